//! Whole-object read cache for remote stores.
//!
//! Why: a nightly run queries each lake file once per series family (8 families in
//! `jobs/nightly.toml`), and each query reads a few column ranges of it. Against S3 every range is
//! a round trip and a GET request billed; against the local disk it is a page-cache copy. Security
//! Lake files of a day and account are mostly a few MB, so the first read of a small object fetches
//! it whole (one GET) and later reads of any range are served from memory. Large objects, reads with
//! conditions or versions, and objects whose size is not known from a listing go straight to the
//! store. The cache is bounded (`[s3] cache_mb`, oldest object out first) and lives for one process.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};

/// Objects at most this big are cached whole.
pub const MAX_OBJECT: u64 = 16 * 1024 * 1024;

#[derive(Default)]
struct State {
    /// Cached objects and their insertion order.
    data: HashMap<Path, Bytes>,
    order: VecDeque<Path>,
    bytes: u64,
}

/// An [`ObjectStore`] that reads small listed objects whole, once.
pub struct WholeObjectCache {
    inner: Arc<dyn ObjectStore>,
    budget: u64,
    state: Mutex<State>,
    /// Sizes and metadata seen in listings (shared with the listing streams).
    meta: Arc<Mutex<HashMap<Path, ObjectMeta>>>,
}

impl WholeObjectCache {
    /// Wrap `inner`, keeping at most `budget` bytes.
    pub fn new(inner: Arc<dyn ObjectStore>, budget: u64) -> Self {
        WholeObjectCache {
            inner,
            budget,
            state: Mutex::new(State::default()),
            meta: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn cached(&self, location: &Path) -> Option<Bytes> {
        self.state.lock().ok()?.data.get(location).cloned()
    }

    /// The listed metadata of `location` when it is small enough to cache.
    fn cacheable(&self, location: &Path) -> Option<ObjectMeta> {
        let m = self.meta.lock().ok()?;
        m.get(location).filter(|m| m.size <= MAX_OBJECT && m.size <= self.budget).cloned()
    }

    /// The whole object, from the cache or fetched once and cached.
    async fn whole(&self, location: &Path, meta: &ObjectMeta) -> Result<Bytes> {
        if let Some(b) = self.cached(location) {
            return Ok(b);
        }
        let bytes = self.inner.get_opts(location, GetOptions::default()).await?.bytes().await?;
        if bytes.len() as u64 == meta.size {
            if let Ok(mut s) = self.state.lock() {
                if !s.data.contains_key(location) {
                    s.bytes += bytes.len() as u64;
                    s.data.insert(location.clone(), bytes.clone());
                    s.order.push_back(location.clone());
                    while s.bytes > self.budget {
                        let Some(old) = s.order.pop_front() else { break };
                        if let Some(b) = s.data.remove(&old) {
                            s.bytes -= b.len() as u64;
                        }
                    }
                }
            }
        }
        Ok(bytes)
    }

    fn forget(&self, location: &Path) {
        if let Ok(mut m) = self.meta.lock() {
            m.remove(location);
        }
        if let Ok(mut s) = self.state.lock() {
            if let Some(b) = s.data.remove(location) {
                s.bytes -= b.len() as u64;
                s.order.retain(|p| p != location);
            }
        }
    }
}

impl fmt::Display for WholeObjectCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WholeObjectCache({})", self.inner)
    }
}

impl fmt::Debug for WholeObjectCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WholeObjectCache({:?}, budget {})", self.inner, self.budget)
    }
}

fn plain(o: &GetOptions) -> bool {
    o.if_match.is_none()
        && o.if_none_match.is_none()
        && o.if_modified_since.is_none()
        && o.if_unmodified_since.is_none()
        && o.version.is_none()
        && !o.head
}

#[async_trait]
impl ObjectStore for WholeObjectCache {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.forget(location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.forget(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if plain(&options) {
            if let Some(meta) = self.cacheable(location) {
                let whole = self.whole(location, &meta).await?;
                let range = match &options.range {
                    Some(r) => r.as_range(meta.size).map_err(|e| object_store::Error::Generic {
                        store: "WholeObjectCache",
                        source: Box::new(e),
                    })?,
                    None => 0..meta.size,
                };
                let slice = whole.slice(range.start as usize..range.end as usize);
                return Ok(GetResult {
                    payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(slice) }).boxed()),
                    meta,
                    range,
                    attributes: Default::default(),
                });
            }
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if let Some(meta) = self.cacheable(location) {
            let whole = self.whole(location, &meta).await?;
            if ranges.iter().all(|r| r.start <= r.end && r.end <= whole.len() as u64) {
                return Ok(ranges.iter().map(|r| whole.slice(r.start as usize..r.end as usize)).collect());
            }
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        if let Ok(mut m) = self.meta.lock() {
            m.clear();
        }
        if let Ok(mut s) = self.state.lock() {
            // Deletions invalidate everything cached; rare on a lake (scratch cleanup only).
            s.data.clear();
            s.order.clear();
            s.bytes = 0;
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let meta = Arc::clone(&self.meta);
        self.inner
            .list(prefix)
            .map(move |r| {
                if let Ok(m) = &r {
                    if let Ok(mut map) = meta.lock() {
                        map.insert(m.location.clone(), m.clone());
                    }
                }
                r
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.forget(to);
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    use super::*;

    #[tokio::test]
    async fn listed_small_objects_are_read_whole_once_and_served_from_memory() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        inner.put(&Path::from("lake/a.parquet"), data.clone().into()).await.unwrap();
        let c = WholeObjectCache::new(inner.clone(), 1 << 20);
        // Not listed yet: straight to the store, nothing cached.
        assert_eq!(c.get_range(&Path::from("lake/a.parquet"), 10..20).await.unwrap(), &data[10..20]);
        assert!(c.cached(&Path::from("lake/a.parquet")).is_none());
        let listed: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(c.list(Some(&Path::from("lake")))).await.unwrap();
        assert_eq!(listed.len(), 1);
        let r = c.get_ranges(&Path::from("lake/a.parquet"), &[0..4, 9_990..10_000]).await.unwrap();
        assert_eq!(r, vec![Bytes::from(data[0..4].to_vec()), Bytes::from(data[9_990..].to_vec())]);
        assert!(c.cached(&Path::from("lake/a.parquet")).is_some());
        // Suffix and offset ranges from the cache agree with the store's own answer.
        for range in [
            object_store::GetRange::Suffix(8),
            object_store::GetRange::Offset(9_000),
            object_store::GetRange::Bounded(100..200),
        ] {
            let opts = GetOptions {
                range: Some(range.clone()),
                ..Default::default()
            };
            let a = c.get_opts(&Path::from("lake/a.parquet"), opts.clone()).await.unwrap();
            let b = inner.get_opts(&Path::from("lake/a.parquet"), opts).await.unwrap();
            assert_eq!(a.range, b.range, "{range:?}");
            assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap(), "{range:?}");
        }
        // Overwriting drops the cached copy.
        c.put(&Path::from("lake/a.parquet"), vec![1u8, 2, 3].into()).await.unwrap();
        assert_eq!(
            c.get(&Path::from("lake/a.parquet")).await.unwrap().bytes().await.unwrap().as_ref(),
            &[1, 2, 3]
        );
    }

    #[tokio::test]
    async fn the_budget_evicts_the_oldest() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for i in 0..3 {
            inner.put(&Path::from(format!("x/{i}")), vec![0u8; 400].into()).await.unwrap();
        }
        let c = WholeObjectCache::new(inner, 1_000);
        let _: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(c.list(None)).await.unwrap();
        for i in 0..3 {
            c.get_range(&Path::from(format!("x/{i}")), 0..1).await.unwrap();
        }
        assert!(c.cached(&Path::from("x/0")).is_none());
        assert!(c.cached(&Path::from("x/2")).is_some());
        assert!(c.state.lock().unwrap().bytes <= 1_000);
    }
}
