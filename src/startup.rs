//! Building and running the server. `Application::build` binds its listeners (port 0 works)
//! and reports the real port, so tests start servers side by side.
//!
//! Stopping is ours, not actix's: actix stops gracefully on SIGTERM but drops in-flight
//! requests on SIGINT, and each of its servers (API, metrics) would react alone. Here both
//! signals drain every server together within `shutdown_timeout_s`, a second signal exits
//! at once, and the database pool is closed only after the servers have stopped.

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::future::{join, join_all, try_join_all};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::http::error::ApiError;
use crate::http::routes;
use crate::http::state::AppState;
use crate::http::{middleware, observe};
use crate::storage::{DbOptions, Repo};
use crate::{bootstrap, photos, privacy, storage, telemetry};

/// How long closing the database pool may take after the servers have stopped.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    servers: Vec<Server>,
    state: web::Data<AppState>,
    signals: StopSignals,
}

pub fn db_options(settings: &Settings) -> DbOptions {
    DbOptions {
        max_connections: settings.database_max_connections,
        acquire_timeout: Duration::from_secs(settings.database_acquire_timeout_s),
        event_batch_max: settings.database_event_batch_max as usize,
        read_batch_max: settings.database_read_batch_max as usize,
        listen_url: settings.database_listen_url.clone(),
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
        // Measured here, once, so that every photo operation of every route is counted.
        let photos = Arc::new(photos::MeteredStore::new(
            photos::open(&settings.photo_store, &settings.s3_options()).await?,
        ));
        let photos: Arc<dyn photos::PhotoStore> = photos;
        privacy::spawn_retention(
            repo.clone(),
            photos.clone(),
            Duration::from_secs(settings.retention_interval_s),
            privacy::RetentionOptions::from(&settings),
        );
        crate::shifts::auto_check_out::spawn_auto_check_out(
            repo.clone(),
            Duration::from_secs(settings.auto_check_out_interval_s),
            crate::shifts::auto_check_out::AutoCheckOutOptions {
                lookback_h: settings.auto_check_out_lookback_h,
            },
        );
        let state = web::Data::new(AppState::new(
            settings.clone(),
            repo,
            photos,
            telemetry::metrics_handle(),
        )?);
        // After the signing key is loaded or generated (in `AppState::new`): a bad key
        // setting fails before the first organisation is created and its password shown,
        // and once the password is shown the server has everything it needs to start.
        bootstrap::ensure_first_org(state.repo.as_ref(), &settings).await?;

        let listener = TcpListener::bind(&settings.listen)?;
        let port = listener.local_addr()?.port();
        let metrics_listener = settings.metrics_listen.as_deref().map(TcpListener::bind).transpose()?;
        let metrics_port = metrics_listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| a.port()))
            .transpose()?;
        let metrics_inline = metrics_listener.is_none();
        // Registered before any listener serves, so a signal sent as soon as the server
        // answers is neither lost nor fatal.
        let signals = StopSignals::register()?;
        let request_timeout = Duration::from_secs(settings.client_request_timeout_s);
        let disconnect_timeout = Duration::from_secs(settings.client_disconnect_timeout_s);

        let api_state = state.clone();
        let mut api = HttpServer::new(move || {
            let app = App::new()
                .app_data(api_state.clone())
                .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
                // Inside `observe`, so refused requests are logged, measured and carry an id.
                .wrap(from_fn(middleware::rate_limit))
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
        .client_request_timeout(request_timeout)
        .client_disconnect_timeout(disconnect_timeout)
        .disable_signals()
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
                    .client_request_timeout(request_timeout)
                    .client_disconnect_timeout(disconnect_timeout)
                    .disable_signals()
                    .shutdown_timeout(settings.shutdown_timeout_s)
                    .run();
            servers.push(server);
        }
        Ok(Application {
            port,
            metrics_port,
            servers,
            state,
            signals,
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

    /// Serves until SIGTERM or SIGINT, then stops accepting connections, lets in-flight
    /// requests finish (at most `shutdown_timeout_s`; a second signal cuts that short), and
    /// closes the database pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            servers,
            state,
            mut signals,
            ..
        } = self;
        let handles: Vec<ServerHandle> = servers.iter().map(Server::handle).collect();
        let mut running = Box::pin(try_join_all(servers));
        let stopped = tokio::select! {
            // A server ended by itself: it failed.
            stopped = &mut running => stopped,
            signal = signals.next() => {
                tracing::info!(signal, timeout_s = state.settings.shutdown_timeout_s, "stopping: draining in-flight requests");
                let drain = join_all(handles.iter().map(|h| h.stop(true)));
                tokio::select! {
                    (_, stopped) = join(drain, &mut running) => stopped,
                    signal = signals.next() => {
                        // actix takes no second stop command while draining; returning
                        // ends the process (the workers' threads with it).
                        tracing::warn!(signal, "second signal: exiting without waiting for in-flight requests");
                        return Ok(());
                    }
                }
            }
        };
        // Bounded: a connection held by a request that the drain timeout cut off may
        // never be handed back.
        if tokio::time::timeout(POOL_CLOSE_TIMEOUT, state.repo.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool not closed in time; its connections end with the process");
        }
        tracing::info!("stopped");
        stopped.map(drop)
    }
}

/// SIGTERM (what Kubernetes and systemd send) and SIGINT (Ctrl-C).
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// The name of the next signal to arrive.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
