//! The local-disk photo store (`file://DIR`), for single-node installs and tests.
//!
//! Layout: `DIR/{org_id}/{photo_id}` holds the bytes and `DIR/{org_id}/{photo_id}.type`
//! the content type (a sidecar, so the store keeps exactly what `put` was given, like
//! S3 does). Directories are 0700 and files 0600: photos are personal data and nobody
//! but the server's user needs to read them. Writes go to a temp file in the same
//! directory, are fsynced, then renamed, so a crash never leaves a half-written photo
//! under a real key; `put` returns only once the photo and every directory entry
//! leading to it from the root are on disk. The server streams these files itself (no
//! signed URLs). A temp file a crash left behind is removed by the orphan sweep's listing.

use std::collections::HashSet;
use std::fs::{self, DirEntry, File, OpenOptions, ReadDir};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::store::{
    ListedPage, ListedPhoto, PhotoKey, PhotoListing, PhotoStore, PresignedPut, StoreError, StoredPhoto, canonical_uuid,
    check_content_type,
};

const TYPE_SUFFIX: &str = ".type";
/// Names of files being written; one still there later is the leftover of a crash.
const TMP_PREFIX: &str = ".tmp-";
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Photos as files under one directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    /// Organisations whose directory this process has made durable in `root`.
    durable_orgs: Arc<Mutex<HashSet<Uuid>>>,
}

impl FileStore {
    /// Opens (creating if missing) the directory `dir`, owner-only.
    pub async fn open(dir: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        blocking("open", move || {
            create_private_dir_all(&dir)?;
            tighten_permissions(&dir);
            // Absolute from here on, so a later change of working directory cannot
            // move the store.
            let root = fs::canonicalize(&dir)?;
            Ok(FileStore {
                root,
                durable_orgs: Arc::default(),
            })
        })
        .await
    }

    /// The directory the photos are in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Paths for a key. `PhotoKey` holds two canonical UUIDs, so these cannot leave
    /// the root.
    fn paths(&self, key: &PhotoKey) -> (PathBuf, PathBuf, PathBuf) {
        let dir = self.root.join(key.org_id().to_string());
        let id = key.id().to_string();
        let data = dir.join(&id);
        let meta = dir.join(format!("{id}{TYPE_SUFFIX}"));
        (dir, data, meta)
    }
}

#[async_trait]
impl PhotoStore for FileStore {
    async fn put(&self, key: &PhotoKey, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        check_content_type(content_type)?;
        let (dir, data, meta) = self.paths(key);
        let content_type = content_type.to_owned();
        let root = self.root.clone();
        let org_id = key.org_id();
        let durable_orgs = Arc::clone(&self.durable_orgs);
        blocking("put", move || {
            create_private_dir(&dir)?;
            // The organisation's directory is an entry of the root: syncing the directory
            // itself (below) does not make that entry durable, and a power cut could lose
            // the directory with every photo in it although their events were committed.
            // Once per organisation and process, and never merely because another put
            // created the directory: that put may not have synced the root yet.
            if !durable_orgs.lock().is_ok_and(|orgs| orgs.contains(&org_id)) {
                sync_dir(&root)?;
                if let Ok(mut orgs) = durable_orgs.lock() {
                    orgs.insert(org_id);
                }
            }
            // The sidecar lands first: once the data file exists under its real name,
            // its content type is already there.
            write_atomically(&dir, &meta, content_type.as_bytes())?;
            write_atomically(&dir, &data, &body)?;
            sync_dir(&dir)
        })
        .await?;
        tracing::debug!(key = %key, "photo stored on disk");
        Ok(())
    }

    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        let (_, data, meta) = self.paths(key);
        blocking("get", move || {
            let bytes = match fs::read(&data) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let content_type = match fs::read_to_string(&meta) {
                Ok(text) if check_content_type(text.trim()).is_ok() => text.trim().to_owned(),
                Ok(_) => DEFAULT_CONTENT_TYPE.to_owned(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => DEFAULT_CONTENT_TYPE.to_owned(),
                Err(e) => return Err(e),
            };
            Ok(Some(StoredPhoto {
                bytes: Bytes::from(bytes),
                content_type,
            }))
        })
        .await
    }

    async fn head(&self, key: &PhotoKey) -> Result<Option<u64>, StoreError> {
        let (_, data, _) = self.paths(key);
        blocking("head", move || match fs::metadata(&data) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn delete(&self, key: &PhotoKey) -> Result<(), StoreError> {
        let (dir, data, meta) = self.paths(key);
        blocking("delete", move || {
            // Data first: a crash in between leaves only a harmless sidecar.
            remove_if_exists(&data)?;
            remove_if_exists(&meta)?;
            match sync_dir(&dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
        .await?;
        tracing::debug!(key = %key, "photo deleted from disk");
        Ok(())
    }

    async fn signed_get_url(&self, _key: &PhotoKey, _ttl: Duration) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    async fn presign_put(
        &self,
        _key: &PhotoKey,
        _content_type: &str,
        _max_bytes: u64,
        _ttl: Duration,
    ) -> Result<Option<PresignedPut>, StoreError> {
        Ok(None)
    }

    fn list(&self, older_than: DateTime<Utc>, page_size: u32) -> Box<dyn PhotoListing> {
        Box::new(Listing {
            walk: Some(Walk {
                root: self.root.clone(),
                older_than: older_than.into(),
                page_size: page_size as usize,
                root_entries: None,
                org: None,
                finished: false,
            }),
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        blocking("health check", move || {
            // Really write: a read-only remount or a full disk must show up here, not
            // on the next check-in.
            // A temp-file name: a crash before the removal leaves what the sweep removes.
            let probe = root.join(format!("{TMP_PREFIX}health-{}", Uuid::new_v4()));
            let result = write_file(&probe, b"ok");
            let _ = fs::remove_file(&probe);
            result
        })
        .await
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

/// A [`Walk`] driven from async code: each page is read on a blocking thread, which
/// takes the walk along and hands it back.
struct Listing {
    /// `None` while a page is being read, and for good if that thread panicked.
    walk: Option<Walk>,
}

#[async_trait]
impl PhotoListing for Listing {
    async fn next_page(&mut self) -> Result<Option<ListedPage>, StoreError> {
        let Some(mut walk) = self.walk.take() else {
            return Ok(None);
        };
        let (walk, page) = blocking("list", move || {
            let page = walk.next_page();
            Ok((walk, page))
        })
        .await?;
        // Kept after an I/O error too: the walk resumes where it stopped if asked again.
        self.walk = Some(walk);
        page.map_err(|e| io_error("list", e))
    }
}

/// A walk over the store directory, streaming one directory's entries at a time, so a
/// page costs `page_size` entries of memory and work however many photos there are.
/// Entries are met in directory order, not sorted: the sweep needs each once, not in order.
struct Walk {
    root: PathBuf,
    older_than: SystemTime,
    page_size: usize,
    /// Opened on the first page.
    root_entries: Option<ReadDir>,
    /// The organisation directory being walked.
    org: Option<(Uuid, ReadDir)>,
    finished: bool,
}

impl Walk {
    fn next_page(&mut self) -> io::Result<Option<ListedPage>> {
        if self.finished {
            return Ok(None);
        }
        let mut page = ListedPage::default();
        for _ in 0..self.page_size {
            match self.next_entry()? {
                Some((org, entry)) => self.examine(org, &entry, &mut page)?,
                None => {
                    self.finished = true;
                    break;
                }
            }
        }
        Ok(Some(page))
    }

    /// The next entry of the current organisation's directory, entering the next one when
    /// it ends; files directly under the root come with no organisation.
    fn next_entry(&mut self) -> io::Result<Option<(Option<Uuid>, DirEntry)>> {
        loop {
            if let Some((org, entries)) = &mut self.org {
                match entries.next() {
                    Some(entry) => return Ok(Some((Some(*org), entry?))),
                    None => self.org = None,
                }
            }
            let root_entries = match &mut self.root_entries {
                Some(entries) => entries,
                None => self.root_entries.insert(fs::read_dir(&self.root)?),
            };
            let Some(entry) = root_entries.next().transpose()? else {
                return Ok(None);
            };
            match org_dir(&entry) {
                Some(org) => match fs::read_dir(entry.path()) {
                    Ok(entries) => self.org = Some((org, entries)),
                    // Removed since the root was read: nothing in it to list.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                },
                None => return Ok(Some((None, entry))),
            }
        }
    }

    /// Adds `entry` to the page if it is an old enough photo, or removes it if it is an old
    /// enough temp file; anything else is not the store's and is left alone.
    fn examine(&self, org: Option<Uuid>, entry: &DirEntry, page: &mut ListedPage) -> io::Result<()> {
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        let Some(name) = name.to_str().filter(|_| is_file) else {
            return Ok(());
        };
        if name.starts_with(TMP_PREFIX) {
            if self.written_before_cutoff(entry)?.is_some() {
                remove_if_exists(&entry.path())?;
                page.leftovers_removed += 1;
            }
        } else if let Some(org) = org
            && let Some(key) = photo_key(org, name, &entry.path())
            && let Some(modified) = self.written_before_cutoff(entry)?
        {
            page.photos.push(ListedPhoto { key, modified });
        }
        Ok(())
    }

    /// When `entry` was last written, if before the cutoff (`None` if it is gone since).
    fn written_before_cutoff(&self, entry: &DirEntry) -> io::Result<Option<DateTime<Utc>>> {
        let modified = match entry.metadata().and_then(|meta| meta.modified()) {
            Ok(modified) => modified,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok((modified < self.older_than).then(|| modified.into()))
    }
}

/// The organisation a directory under the root belongs to, by its canonical name.
fn org_dir(entry: &DirEntry) -> Option<Uuid> {
    let org = canonical_uuid(entry.file_name().to_str()?)?;
    entry.file_type().ok()?.is_dir().then_some(org)
}

/// The key a file in an organisation's directory stores: its data file, or a content-type
/// sidecar whose data file is gone (a crash between the two writes of `put`, or the two
/// removals of `delete`), so that a lone sidecar is swept too.
fn photo_key(org: Uuid, name: &str, path: &Path) -> Option<PhotoKey> {
    let id = match name.strip_suffix(TYPE_SUFFIX) {
        Some(id) if path.with_file_name(id).symlink_metadata().is_err() => id,
        Some(_) => return None,
        None => name,
    };
    PhotoKey::from_stored(format!("{org}/{id}")).ok()
}

/// Runs blocking file work off the async workers and maps its errors.
async fn blocking<T, F>(op: &'static str, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(io_error(op, e)),
        Err(join) => Err(StoreError::Unavailable {
            op,
            source: Box::new(join),
        }),
    }
}

fn io_error(op: &'static str, e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        StoreError::Denied {
            op,
            source: Box::new(e),
        }
    } else {
        StoreError::Unavailable {
            op,
            source: Box::new(e),
        }
    }
}

/// Writes `bytes` to a fresh temp file next to `target`, fsyncs it and renames it over
/// `target`; the temp file is removed if anything fails.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{}", Uuid::new_v4()));
    let result = write_file(&tmp, bytes).and_then(|()| fs::rename(&tmp, target));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a new owner-only file with `bytes`, flushed to disk.
fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes a rename or removal durable: on POSIX the directory entry is only safe once
/// the directory itself is fsynced.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, File::open);
        Ok(())
    }
}

fn private_dir_builder(recursive: bool) -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
}

fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    private_dir_builder(true).create(dir)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    match private_dir_builder(false).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// A directory made by an operator may be group- or world-readable; photos are
/// personal data, so narrow it, and say so if we cannot (e.g. a mount we do not own).
fn tighten_permissions(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
            && let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(error = %e, "photo directory is readable by others and could not be restricted to its owner");
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
}
