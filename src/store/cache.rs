//! Byte-range read cache for remote stores.
//!
//! Why: a nightly run queries each lake table once per series family (8 families in
//! `jobs/nightly.toml`, three of them over CloudTrail), and each query reads the same column chunks
//! of the same files again: measured on the benchmark lake, 1.27 GB went over the wire for a 1 GB
//! lake, most column ranges three or four times. Against the local disk a repeated range is a page
//! cache copy; against S3 it is a round trip, a billed GET and the server's work. This store keeps
//! the ranges it fetched (the column chunks DataFusion asked for, after `object_store`'s own
//! coalescing) and serves any later read that lies inside one of them from memory, so each byte is
//! fetched once per process while it fits the budget (`[s3] cache_mb`, least recently used range
//! out first).
//!
//! An earlier version fetched small objects whole on first read; that moved the whole lake over
//! the wire during the footer scan, columns no query reads included, and was slower end to end
//! once the benchmark server stopped hashing every object per request (see
//! `benches/results/2026-11-29.md`).
//!
//! Reads with conditions or versions, `head` requests, and whole-object reads go straight to the
//! store; so does a single-range read (`get_opts`) of an object the cache has not seen listed
//! (its size, needed to answer a suffix range and to fill in the result's metadata, is not known).
//! `get_ranges` needs no size and caches any object's bounded ranges. Writes, copies and deletes
//! drop what is cached for the object.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt as _,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// One cached range of an object.
struct Piece {
    end: u64,
    bytes: Bytes,
    tick: u64,
}

#[derive(Default)]
struct State {
    /// Per object: cached ranges by start offset.
    objects: HashMap<Path, BTreeMap<u64, Piece>>,
    /// Least recently used first: tick → (object, start).
    lru: BTreeMap<u64, (Path, u64)>,
    bytes: u64,
    tick: u64,
}

impl State {
    /// The cached bytes covering `r`, if one piece holds all of it (and mark that piece used).
    fn lookup(&mut self, location: &Path, r: &Range<u64>) -> Option<Bytes> {
        if r.start > r.end {
            return None; // the store answers a reversed range with its own error
        }
        let pieces = self.objects.get_mut(location)?;
        let (start, piece) = pieces.range_mut(..=r.start).rev().find(|(_, p)| p.end >= r.end)?;
        let start = *start;
        let out = piece.bytes.slice((r.start - start) as usize..(r.end - start) as usize);
        self.tick += 1;
        let old = std::mem::replace(&mut piece.tick, self.tick);
        if let Some(v) = self.lru.remove(&old) {
            self.lru.insert(self.tick, v);
        }
        Some(out)
    }

    fn insert(&mut self, location: &Path, r: Range<u64>, bytes: Bytes, budget: u64) {
        let len = bytes.len() as u64;
        if len != r.end - r.start || len > budget / 4 || self.lookup(location, &r).is_some() {
            return;
        }
        self.tick += 1;
        let pieces = self.objects.entry(location.clone()).or_default();
        if let Some(old) = pieces.insert(
            r.start,
            Piece {
                end: r.end,
                bytes,
                tick: self.tick,
            },
        ) {
            // Same start, shorter range (a longer one would have been found above).
            self.bytes -= old.bytes.len() as u64;
            self.lru.remove(&old.tick);
        }
        self.lru.insert(self.tick, (location.clone(), r.start));
        self.bytes += len;
        while self.bytes > budget {
            let Some((_, (path, start))) = self.lru.pop_first() else { break };
            if let Some(pieces) = self.objects.get_mut(&path) {
                if let Some(p) = pieces.remove(&start) {
                    self.bytes -= p.bytes.len() as u64;
                }
                if pieces.is_empty() {
                    self.objects.remove(&path);
                }
            }
        }
    }

    fn forget(&mut self, location: &Path) {
        if let Some(pieces) = self.objects.remove(location) {
            for p in pieces.values() {
                self.bytes -= p.bytes.len() as u64;
                self.lru.remove(&p.tick);
            }
        }
    }
}

/// An [`ObjectStore`] that keeps the byte ranges it read and serves repeated reads from memory.
pub struct RangeCache {
    inner: Arc<dyn ObjectStore>,
    budget: u64,
    state: Mutex<State>,
    /// Sizes and metadata seen in listings (shared with the listing streams).
    meta: Arc<Mutex<HashMap<Path, ObjectMeta>>>,
}

impl RangeCache {
    /// Wrap `inner`, keeping at most `budget` bytes.
    pub fn new(inner: Arc<dyn ObjectStore>, budget: u64) -> Self {
        RangeCache {
            inner,
            budget,
            state: Mutex::new(State::default()),
            meta: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn listed(&self, location: &Path) -> Option<ObjectMeta> {
        self.meta.lock().ok()?.get(location).cloned()
    }

    fn lookup(&self, location: &Path, r: &Range<u64>) -> Option<Bytes> {
        self.state.lock().ok()?.lookup(location, r)
    }

    fn insert(&self, location: &Path, r: Range<u64>, bytes: Bytes) {
        if let Ok(mut s) = self.state.lock() {
            s.insert(location, r, bytes, self.budget);
        }
    }

    fn forget(&self, location: &Path) {
        if let Ok(mut m) = self.meta.lock() {
            m.remove(location);
        }
        if let Ok(mut s) = self.state.lock() {
            s.forget(location);
        }
    }

    /// Bytes held (for tests).
    #[cfg(test)]
    fn held(&self) -> u64 {
        self.state.lock().unwrap().bytes
    }
}

impl fmt::Display for RangeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RangeCache({})", self.inner)
    }
}

impl fmt::Debug for RangeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RangeCache({:?}, budget {})", self.inner, self.budget)
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

fn bad_range(e: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: "RangeCache",
        source: Box::new(e),
    }
}

#[async_trait]
impl ObjectStore for RangeCache {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.forget(location);
        let r = self.inner.put_opts(location, payload, opts).await;
        // Again after the write: a read racing with it may have cached the old bytes.
        self.forget(location);
        r
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.forget(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if let (true, Some(range), Some(meta)) = (plain(&options), &options.range, self.listed(location)) {
            let r = range.as_range(meta.size).map_err(bad_range)?;
            let bytes = match self.lookup(location, &r) {
                Some(b) => b,
                None => {
                    let b = self.inner.get_range(location, r.clone()).await?;
                    self.insert(location, r.clone(), b.clone());
                    b
                }
            };
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(bytes) }).boxed()),
                meta,
                range: r,
                attributes: Default::default(),
            });
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let mut out: Vec<Option<Bytes>> = ranges.iter().map(|r| self.lookup(location, r)).collect();
        let missing: Vec<Range<u64>> = ranges
            .iter()
            .zip(&out)
            .filter(|(_, b)| b.is_none())
            .map(|(r, _)| r.clone())
            .collect();
        if !missing.is_empty() {
            // The inner store coalesces nearby ranges into fewer requests.
            let fetched = self.inner.get_ranges(location, &missing).await?;
            let mut fetched = missing.into_iter().zip(fetched);
            for slot in out.iter_mut().filter(|b| b.is_none()) {
                if let Some((r, b)) = fetched.next() {
                    self.insert(location, r, b.clone());
                    *slot = Some(b);
                }
            }
        }
        out.into_iter()
            .map(|b| b.ok_or_else(|| bad_range(std::io::Error::other("store returned fewer ranges than asked"))))
            .collect()
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        if let Ok(mut m) = self.meta.lock() {
            m.clear();
        }
        if let Ok(mut s) = self.state.lock() {
            // Deletions invalidate everything cached; rare on a lake (scratch cleanup only).
            *s = State::default();
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
    use object_store::GetRange;

    async fn listed(c: &RangeCache) {
        let _: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(c.list(None)).await.unwrap();
    }

    #[tokio::test]
    async fn a_range_read_once_is_served_from_memory_after() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let p = Path::from("lake/a.parquet");
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        inner.put(&p, data.clone().into()).await.unwrap();
        let c = RangeCache::new(inner.clone(), 1 << 20);
        // Not listed yet: straight to the store, nothing cached.
        assert_eq!(c.get_range(&p, 10..20).await.unwrap(), &data[10..20]);
        assert_eq!(c.held(), 0);
        listed(&c).await;
        assert_eq!(c.get_range(&p, 1_000..3_000).await.unwrap(), &data[1_000..3_000]);
        let r = c.get_ranges(&p, &[0..4, 9_990..10_000]).await.unwrap();
        assert_eq!(r, vec![Bytes::from(data[0..4].to_vec()), Bytes::from(data[9_990..].to_vec())]);
        assert_eq!(c.held(), 2_000 + 4 + 10);
        // Change the object behind the cache's back: what was read comes from memory (old bytes),
        // everything else from the store (new bytes), and a range only partly cached is fetched.
        let new: Vec<u8> = vec![7u8; 10_000];
        inner.put(&p, new.clone().into()).await.unwrap();
        assert_eq!(c.get_range(&p, 1_500..1_600).await.unwrap(), &data[1_500..1_600]);
        let r = c.get_ranges(&p, &[1_000..2_000, 2_500..3_500, 9_995..10_000]).await.unwrap();
        assert_eq!(r[0], &data[1_000..2_000]);
        assert_eq!(r[1], &new[2_500..3_500]);
        assert_eq!(r[2], &data[9_995..]);
        // Suffix, offset and bounded ranges answer as the store itself would (same bytes, range).
        inner.put(&p, data.clone().into()).await.unwrap();
        for range in [
            GetRange::Suffix(8),
            GetRange::Offset(9_000),
            GetRange::Bounded(100..200),
            GetRange::Bounded(1_100..1_200),
        ] {
            let opts = GetOptions {
                range: Some(range.clone()),
                ..Default::default()
            };
            let a = c.get_opts(&p, opts.clone()).await.unwrap();
            let b = inner.get_opts(&p, opts).await.unwrap();
            assert_eq!(a.range, b.range, "{range:?}");
            assert_eq!(a.meta.size, b.meta.size, "{range:?}");
            assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap(), "{range:?}");
        }
        // Writing through the cache drops what it held for the object.
        c.put(&p, vec![1u8, 2, 3].into()).await.unwrap();
        assert_eq!(c.get(&p).await.unwrap().bytes().await.unwrap().as_ref(), &[1, 2, 3]);
        assert_eq!(c.held(), 0);
    }

    #[tokio::test]
    async fn the_budget_evicts_the_least_recently_used_range() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for i in 0..3 {
            inner.put(&Path::from(format!("x/{i}")), vec![i as u8; 400].into()).await.unwrap();
        }
        let c = RangeCache::new(inner.clone(), 500);
        listed(&c).await;
        c.get_range(&Path::from("x/0"), 0..100).await.unwrap();
        c.get_range(&Path::from("x/1"), 0..100).await.unwrap();
        c.get_range(&Path::from("x/0"), 50..60).await.unwrap(); // x/0 used again
        for i in 0..3 {
            inner.put(&Path::from(format!("x/{i}")), vec![9u8; 400].into()).await.unwrap();
        }
        c.get_ranges(&Path::from("x/2"), &[0..100, 100..200, 200..300, 300..400])
            .await
            .unwrap();
        assert_eq!(c.held(), 500);
        // x/1 was least recently used: read again from the store (new bytes); x/0 still cached.
        assert_eq!(c.get_range(&Path::from("x/0"), 0..10).await.unwrap().as_ref(), &[0u8; 10]);
        assert_eq!(c.get_range(&Path::from("x/1"), 0..10).await.unwrap().as_ref(), &[9u8; 10]);
        // A range larger than a quarter of the budget is never held.
        let before = c.held();
        c.get_range(&Path::from("x/2"), 0..300).await.unwrap();
        assert_eq!(c.held(), before);
    }
}
