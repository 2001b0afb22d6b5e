//! Building and running the server. `Application::build` binds its listeners (port 0 works)
//! and reports the real port, so tests start servers side by side.

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::error::ApiError;
use crate::http::observe;
use crate::state::AppState;
use crate::storage::{DbOptions, Repo};
use crate::{bootstrap, photos, privacy, routes, storage, telemetry};

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    servers: Vec<Server>,
    state: web::Data<AppState>,
}

pub fn db_options(settings: &Settings) -> DbOptions {
    DbOptions {
        max_connections: settings.database_max_connections,
        acquire_timeout: Duration::from_secs(settings.database_acquire_timeout_s),
    }
}

pub async fn open_repo(settings: &Settings) -> anyhow::Result<Arc<dyn Repo>> {
    Ok(storage::open(&settings.database_url, &db_options(settings), true).await?)
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let repo = open_repo(&settings).await?;
        bootstrap::ensure_first_org(repo.as_ref(), &settings).await?;
        let photos = photos::open(&settings.photo_store, &settings.s3_options()).await?;
        privacy::spawn_retention(
            repo.clone(),
            photos.clone(),
            Duration::from_secs(settings.retention_interval_s),
            settings.retention_batch_size,
        );
        let state = web::Data::new(AppState::new(
            settings.clone(),
            repo,
            photos,
            telemetry::metrics_handle(),
        )?);

        let listener = TcpListener::bind(&settings.listen)?;
        let port = listener.local_addr()?.port();
        let metrics_listener = settings.metrics_listen.as_deref().map(TcpListener::bind).transpose()?;
        let metrics_port = metrics_listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| a.port()))
            .transpose()?;
        let metrics_inline = metrics_listener.is_none();

        let api_state = state.clone();
        let mut api = HttpServer::new(move || {
            let app = App::new()
                .app_data(api_state.clone())
                .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
                .wrap(from_fn(observe::middleware))
                .configure(routes::configure)
                .default_service(web::to(not_found));
            if metrics_inline {
                app.service(routes::ops::metrics)
            } else {
                app
            }
        })
        .listen(listener)?
        .shutdown_timeout(settings.shutdown_timeout_s);
        if let Some(workers) = settings.workers {
            api = api.workers(workers);
        }
        let mut servers = vec![api.run()];
        if let Some(listener) = metrics_listener {
            let metrics_state = state.clone();
            let server =
                HttpServer::new(move || App::new().app_data(metrics_state.clone()).service(routes::ops::metrics))
                    .listen(listener)?
                    .workers(1)
                    .shutdown_timeout(settings.shutdown_timeout_s)
                    .run();
            servers.push(server);
        }
        Ok(Application {
            port,
            metrics_port,
            servers,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (actix's graceful stop,
    /// bounded by `shutdown_timeout_s`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        futures_util::future::try_join_all(self.servers).await.map(|_| ())
    }
}
