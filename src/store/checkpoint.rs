//! The *checkpoint*: the whole store written to one file (periodically and at shutdown) and
//! read back at start, so range rules have their history right after a restart. A crash loses
//! at most one checkpoint interval. The file is written to a temporary name, synced and renamed,
//! so a crash mid-write leaves the previous checkpoint intact.
//!
//! Format (little-endian): `SWSTORE1`, u64 series count; per series u16 label count, labels as
//! (u32 length, bytes) name/value pairs, u32 chunk count; per chunk u16 samples, u32 length,
//! the chunk's compressed bytes.

use super::Store;
use super::chunk::Chunk;
use std::io::{self, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"SWSTORE1";

/// What a checkpoint held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series written or restored.
    pub series: usize,
    /// Samples written or restored.
    pub samples: usize,
    /// Size of the file in bytes.
    pub bytes: usize,
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
    buf.extend_from_slice(b);
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let s = self.b.get(self.i..self.i + n).ok_or_else(|| bad("truncated"))?;
        self.i += n;
        Ok(s)
    }
    fn u16(&mut self) -> io::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().map_err(|_| bad("u16"))?))
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| bad("u32"))?))
    }
    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| bad("u64"))?))
    }
    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> io::Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad("label is not UTF-8"))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("corrupt store checkpoint: {what}"))
}

impl Store {
    /// Writes every series to `path` (atomically), streaming through a buffered file: the read
    /// lock is held while the series are written (to the page cache), and the whole store is
    /// never copied into memory at once.
    pub fn checkpoint_to(&self, path: &Path) -> io::Result<CheckpointStats> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let mut buf = Vec::with_capacity(4096);
        let mut stats = CheckpointStats::default();
        out.write_all(MAGIC)?;
        {
            let inner = self.read();
            out.write_all(&(inner.series.len() as u64).to_le_bytes())?;
            stats.bytes = MAGIC.len() + 8;
            for s in inner.series.values() {
                buf.clear();
                let pairs = inner.label_sets.get(s.labels);
                buf.extend_from_slice(&(pairs.clone().count() as u16).to_le_bytes());
                for (k, v) in pairs {
                    put_bytes(&mut buf, inner.interner.get(k).as_bytes());
                    put_bytes(&mut buf, inner.interner.get(v).as_bytes());
                }
                let at = buf.len();
                buf.extend_from_slice(&0u32.to_le_bytes());
                let mut n = 0u32;
                s.each_raw(inner.files.as_ref(), |bytes, count| {
                    buf.extend_from_slice(&count.to_le_bytes());
                    put_bytes(&mut buf, bytes);
                    stats.samples += count as usize;
                    n += 1;
                })?;
                buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
                out.write_all(&buf)?;
                stats.bytes += buf.len();
                stats.series += 1;
            }
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(stats)
    }

    /// Loads a checkpoint written by [`Store::checkpoint_to`] into this (empty) store. A missing
    /// file restores nothing; a corrupt one is an error and restores what came before the damage.
    pub fn restore_from(&self, path: &Path) -> io::Result<CheckpointStats> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(CheckpointStats::default()),
            Err(e) => return Err(e),
        };
        let mut r = Reader { b: &data, i: 0 };
        if r.take(8)? != MAGIC {
            return Err(bad("not a sidewatch store checkpoint"));
        }
        let mut stats = CheckpointStats { bytes: data.len(), ..Default::default() };
        let n = r.u64()?;
        for _ in 0..n {
            let nl = r.u16()? as usize;
            let mut pairs = Vec::with_capacity(nl);
            for _ in 0..nl {
                pairs.push((r.str()?, r.str()?));
            }
            let nc = r.u32()?;
            let mut chunks = Vec::with_capacity(nc as usize);
            for _ in 0..nc {
                let count = r.u16()?;
                let bytes = r.bytes()?;
                chunks.push(Chunk::from_raw(bytes, count).ok_or_else(|| bad("chunk does not decode"))?);
            }
            let Ok(id) = self.get_or_create(pairs.iter().copied()) else { continue };
            let mut inner = self.write();
            let super::Inner { series, files, .. } = &mut *inner;
            if let Some(s) = series.get_mut(id) {
                if s.sample_count() > 0 {
                    continue;
                }
                for c in chunks {
                    stats.samples += c.len();
                    s.push_restored(c, files.as_mut());
                }
                stats.series += 1;
            }
        }
        Ok(stats)
    }
}
