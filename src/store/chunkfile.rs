//! *Chunk files*: where sealed chunks live when the store has a directory for them. A sealed
//! chunk never changes, so — as Prometheus does with its `chunks_head` files — its bytes are
//! written once to a segment file and read back through a read-only memory map. Only the pages
//! a query actually reads are mapped into the process (and count in its RSS); the rest stay in
//! the kernel's page cache, which gives them back under memory pressure. A series keeps just
//! the chunk's bounds and its [`Loc`] in memory.
//!
//! Segments are files of [`SEGMENT_BYTES`] (sparse; blocks are allocated as chunks are written)
//! named `000001.chunks`, … Writes go through a small buffer and `pwrite`, never through the
//! map, so writing does not make pages resident either. A segment is deleted once every chunk
//! in it has been dropped (retention, series removed). The files are a cache of the running
//! process, not its durable state: the store checkpoint holds every chunk's bytes, so the
//! directory is emptied at start. If a write fails (disk full, no directory), the chunk stays
//! in memory and the store goes on.
//!
//! With no directory (`store.sealed_chunks = "memory"`), or while writes fail, chunks are kept
//! here in memory instead, in slots a [`Loc`] names the same way, so a series' sealed-chunk
//! entry is 24 bytes either way (an enum of a boxed slice and a file place would take 32).

use memmap2::{Mmap, UncheckedAdvice};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Size of one segment file (its map is this large; the file is sparse).
pub(crate) const SEGMENT_BYTES: u32 = 16 << 20;

/// Buffered bytes of the segment being written before they go to the file in one `pwrite`.
const BUFFER_BYTES: usize = 128 << 10;

/// Where a sealed chunk's bytes are: segment number, byte offset and length (8 bytes, so a
/// series' sealed-chunk entry stays small); segment [`MEM_SEG`] is memory, `off` then the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seg: u16,
    pub(crate) len: u16,
    pub(crate) off: u32,
}

/// The segment number of chunks kept in memory (files are numbered below it).
const MEM_SEG: u16 = u16::MAX;

impl Loc {
    /// True when the bytes are in memory, not in a file.
    pub(crate) fn in_memory(self) -> bool {
        self.seg == MEM_SEG
    }
}

#[derive(Debug)]
struct Segment {
    file: File,
    map: Mmap,
    path: PathBuf,
    /// Chunks written here that are still referenced by a series.
    live: u32,
}

impl Segment {
    /// Unmaps and deletes the segment file.
    fn delete(self) {
        let Segment { file, map, path, .. } = self;
        drop(map);
        drop(file);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(error = %e, path = %path.display(), "cannot delete chunk segment");
        }
    }
}

/// The sealed chunks of one store: segment files and the chunks kept in memory; see the
/// module docs.
#[derive(Debug, Default)]
pub(crate) struct ChunkFiles {
    /// Where segments go, and its `LOCK` file, held (with an exclusive `flock`) while the files
    /// are in use so two processes never share a directory; `None`: every chunk is kept in
    /// memory.
    dir: Option<(PathBuf, File)>,
    /// By segment number; `None` once deleted (the number is then reused).
    segments: Vec<Option<Segment>>,
    /// The segment being written.
    active: Option<u16>,
    /// Bytes of the active (last) segment already written to its file.
    flushed: u32,
    /// Bytes after `flushed` not yet written (read from here until they are). When writing
    /// fails they stay here, and the next chunks too, until a write succeeds.
    pending: Vec<u8>,
    /// The last write failed (logged once until one succeeds).
    failing: bool,
    /// Chunks kept in memory, by slot (an empty slot is free).
    mem: Vec<Box<[u8]>>,
    /// Free slots of `mem`.
    mem_free: Vec<u32>,
    /// Every series' list of its sealed chunks (entries with the bounds and [`Loc`] of each).
    pub(crate) lists: super::sealed::SealedLists,
}

impl ChunkFiles {
    /// Opens (creating it if needed) `dir` for chunk segments, deleting segments a previous
    /// process left there, and takes over the chunks `memory` holds in memory and every
    /// series' list of sealed chunks. Fails when the directory cannot be created or read.
    pub(crate) fn open(dir: &Path, memory: &mut ChunkFiles) -> io::Result<ChunkFiles> {
        std::fs::create_dir_all(dir)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK"))?;
        // SAFETY: flock on a file descriptor we own; it has no memory effects.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io::Error::other(format!(
                "{} is in use by another sidewatch process (give each its own store.checkpoint_path)",
                dir.display()
            )));
        }
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "chunks") {
                std::fs::remove_file(&p)?;
            }
        }
        Ok(ChunkFiles {
            dir: Some((dir.to_path_buf(), lock)),
            mem: std::mem::take(&mut memory.mem),
            mem_free: std::mem::take(&mut memory.mem_free),
            lists: std::mem::take(&mut memory.lists),
            segments: Vec::new(),
            active: None,
            flushed: 0,
            pending: Vec::new(),
            failing: false,
        })
    }

    fn new_segment(&mut self) -> io::Result<u16> {
        self.flush()?;
        let Some((dir, _)) = &self.dir else { return Err(io::Error::other("no chunk directory")) };
        let seg = match self.segments.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.segments.len() < MEM_SEG as usize => {
                self.segments.push(None);
                self.segments.len() - 1
            }
            None => return Err(io::Error::other("too many chunk segments")),
        };
        let path = dir.join(format!("{:06}.chunks", seg + 1));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        file.set_len(SEGMENT_BYTES as u64)?;
        // SAFETY: the file is ours (created and truncated above, in a directory the store owns)
        // and is only ever written at offsets past every chunk handed out; readers only read
        // ranges that were written before they were handed out. Nothing truncates it while
        // mapped: the map is dropped before the file is deleted.
        let map = unsafe { Mmap::map(&file)? };
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::Random);
        self.segments[seg] = Some(Segment { file, map, path, live: 0 });
        let previous = self.active.replace(seg as u16);
        self.flushed = 0;
        if let Some(prev) = previous {
            self.delete_if_unused(prev);
        }
        Ok(seg as u16)
    }

    /// Writes the pending bytes of the active segment to its file.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(Some(seg)) = self.active.and_then(|a| self.segments.get(a as usize)) else { return Ok(()) };
        seg.file.write_all_at(&self.pending, self.flushed as u64)?;
        self.flushed += self.pending.len() as u32;
        self.pending.clear();
        Ok(())
    }

    /// Stores `bytes` (one sealed chunk, under 64 KiB) and returns where: in a segment file
    /// when there is a directory and writing works, in memory otherwise. Write failures are
    /// logged, once until a write succeeds again.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Loc {
        if self.dir.is_some()
            && let Some(loc) = self.put_file(bytes)
        {
            return loc;
        }
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX); // `get` reads the slot's own length
        let b: Box<[u8]> = bytes.into();
        let off = match self.mem_free.pop() {
            Some(slot) => {
                self.mem[slot as usize] = b;
                slot
            }
            None => {
                self.mem.push(b);
                (self.mem.len() - 1) as u32
            }
        };
        Loc { seg: MEM_SEG, len, off }
    }

    fn put_file(&mut self, bytes: &[u8]) -> Option<Loc> {
        let len = u16::try_from(bytes.len()).ok()?;
        let seg = match self.active {
            Some(seg) if self.flushed + self.pending.len() as u32 + u32::from(len) <= SEGMENT_BYTES => seg,
            _ => {
                let created = self.new_segment();
                self.note(created)?
            }
        };
        if self.pending.len() + bytes.len() > BUFFER_BYTES {
            let flushed = self.flush();
            self.note(flushed);
        }
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(BUFFER_BYTES);
        }
        let off = self.flushed + self.pending.len() as u32;
        self.pending.extend_from_slice(bytes);
        if let Some(Some(s)) = self.segments.get_mut(seg as usize) {
            s.live += 1;
        }
        Some(Loc { seg, len, off })
    }

    fn dir_path(&self) -> Option<&Path> {
        self.dir.as_ref().map(|(p, _)| p.as_path())
    }

    /// Logs the first of a run of write failures and the recovery after it.
    fn note<T>(&mut self, r: io::Result<T>) -> Option<T> {
        match r {
            Ok(v) => {
                if std::mem::replace(&mut self.failing, false) {
                    tracing::info!(dir = ?self.dir_path(), "chunk files are written again");
                }
                Some(v)
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(error = %e, dir = ?self.dir_path(), "cannot write chunk file; keeping chunks in memory until a write succeeds");
                }
                None
            }
        }
    }

    /// The bytes at `loc`, from memory or read through the map (or from the write buffer);
    /// empty if `loc` is unknown.
    pub(crate) fn get(&self, loc: Loc) -> &[u8] {
        if loc.in_memory() {
            return self.mem.get(loc.off as usize).map_or(&[], |b| &b[..]);
        }
        let len = loc.len as usize;
        let Some(Some(seg)) = self.segments.get(loc.seg as usize) else { return &[] };
        if self.active == Some(loc.seg) && loc.off >= self.flushed {
            let from = (loc.off - self.flushed) as usize;
            return self.pending.get(from..from + len).unwrap_or(&[]);
        }
        seg.map.get(loc.off as usize..loc.off as usize + len).unwrap_or(&[])
    }

    /// Takes every segment's pages out of the process (not out of the page cache, which keeps
    /// them while memory allows): the next read of a chunk maps its page again, a minor fault.
    /// Windows touch the pages of the sealed chunks they overlap, and without this those pages
    /// would stay mapped — and count in the RSS — long after the windows moved past them.
    /// `&mut self` (the store's write lock) means no chunk's bytes are borrowed meanwhile.
    pub(crate) fn unmap_pages(&mut self) {
        for seg in self.segments.iter().flatten() {
            // SAFETY: a read-only shared mapping of a file: after MADV_DONTNEED a read maps the
            // page again from the file, whose written bytes never change, and no slice of the map
            // is alive (`&mut self`).
            if let Err(e) = unsafe { seg.map.unchecked_advise(UncheckedAdvice::DontNeed) } {
                tracing::debug!(error = %e, "cannot unmap chunk pages");
            }
        }
    }

    /// The bytes at `loc` for bulk readers such as the checkpoint: chunks in memory or still in
    /// the write buffer as they are, chunks in a file read into `buf` with a read from the file
    /// (not the map), so that reading every chunk does not make every page resident.
    pub(crate) fn read<'a>(&'a self, loc: Loc, buf: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
        if loc.in_memory() || (self.active == Some(loc.seg) && loc.off >= self.flushed) {
            return Ok(self.get(loc));
        }
        let Some(Some(seg)) = self.segments.get(loc.seg as usize) else {
            return Err(io::Error::other("chunk segment is gone"));
        };
        buf.clear();
        buf.resize(loc.len as usize, 0);
        seg.file.read_exact_at(buf, loc.off as u64)?;
        Ok(buf)
    }

    /// Forgets one chunk at `loc`: frees its memory, or deletes its segment when no chunk in it
    /// is left (except the segment being written).
    pub(crate) fn release(&mut self, loc: Loc) {
        if loc.in_memory() {
            // A sealed chunk is never empty, so an empty slot is a free one (not freed twice).
            if let Some(slot) = self.mem.get_mut(loc.off as usize)
                && !slot.is_empty()
            {
                *slot = Box::default();
                self.mem_free.push(loc.off);
            }
            return;
        }
        if let Some(Some(seg)) = self.segments.get_mut(loc.seg as usize) {
            seg.live = seg.live.saturating_sub(1);
        }
        self.delete_if_unused(loc.seg);
    }

    fn delete_if_unused(&mut self, n: u16) {
        if self.active == Some(n) {
            return;
        }
        let Some(slot) = self.segments.get_mut(n as usize) else { return };
        if slot.as_ref().is_some_and(|s| s.live == 0)
            && let Some(seg) = slot.take()
        {
            seg.delete();
        }
    }

    /// Segment files on disk.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.iter().flatten().count()
    }

    /// Bytes the table of in-memory chunks takes beside the chunks themselves.
    pub(crate) fn slot_bytes(&self) -> usize {
        self.mem.capacity() * std::mem::size_of::<Box<[u8]>>() + self.mem_free.capacity() * 4
    }
}

impl Drop for ChunkFiles {
    fn drop(&mut self) {
        self.segments.drain(..).flatten().for_each(Segment::delete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_through_buffer_file_and_map_and_segments_go_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("000009.chunks"), b"left over").unwrap();
        let mut f = ChunkFiles::open(dir.path(), &mut ChunkFiles::default()).unwrap();
        assert!(!dir.path().join("000009.chunks").exists(), "stale segments are deleted at open");
        let err = ChunkFiles::open(dir.path(), &mut ChunkFiles::default()).unwrap_err();
        assert!(err.to_string().contains("in use by another sidewatch process"), "{err}");
        let a = f.put(b"first chunk");
        assert!(!a.in_memory());
        assert_eq!(f.get(a), b"first chunk", "read from the write buffer");
        f.flush().unwrap();
        assert_eq!(f.get(a), b"first chunk", "read through the map");
        let mut buf = Vec::new();
        assert_eq!(f.read(a, &mut buf).unwrap(), b"first chunk");
        // Fill the first segment so the next chunk opens a second one.
        let big = vec![7u8; 60_000];
        let fills: Vec<Loc> = (0..(SEGMENT_BYTES / 60_000)).map(|_| f.put(&big)).collect();
        let b = f.put(&big);
        assert_eq!((a.seg, b.seg), (0, 1));
        assert_eq!(&f.get(fills[3])[..4], &[7, 7, 7, 7]);
        assert_eq!(f.segment_count(), 2);
        for loc in fills {
            f.release(loc);
        }
        assert!(dir.path().join("000001.chunks").exists(), "one chunk still lives in segment 1");
        f.release(a);
        assert!(!dir.path().join("000001.chunks").exists(), "an empty segment is deleted");
        assert!(f.get(a).is_empty());
        f.release(b);
        assert!(dir.path().join("000002.chunks").exists(), "the segment being written stays");
        drop(f);
        assert!(!dir.path().join("000002.chunks").exists());
    }

    /// Without a directory chunks are kept in memory slots, which are reused once released and
    /// carried over when a directory is opened later.
    #[test]
    fn chunks_in_memory_reuse_slots_and_move_to_an_opened_directory() {
        let mut m = ChunkFiles::default();
        let a = m.put(b"in memory");
        let b = m.put(b"second");
        assert!(a.in_memory() && b.in_memory());
        assert_eq!((m.get(a), m.get(b)), (&b"in memory"[..], &b"second"[..]));
        let mut buf = Vec::new();
        assert_eq!(m.read(b, &mut buf).unwrap(), b"second");
        m.release(a);
        m.release(a);
        assert!(m.get(a).is_empty(), "released");
        let c = m.put(b"third");
        assert_eq!(c.off, a.off, "a freed slot is reused");
        let d = m.put(b"fourth");
        assert_ne!(d.off, c.off, "released twice, freed once");
        let dir = tempfile::tempdir().unwrap();
        let mut f = ChunkFiles::open(dir.path(), &mut m).unwrap();
        assert_eq!((f.get(b), f.get(c)), (&b"second"[..], &b"third"[..]), "memory chunks carried over");
        assert!(!f.put(b"to a file").in_memory());
        assert_eq!(f.segment_count(), 1);
    }
}
