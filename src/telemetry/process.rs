//! *Process facts* read from `/proc/self` (Linux): resident memory, CPU seconds, open file
//! descriptors. Elsewhere they are simply absent from `/metrics`.

/// Resident set size in bytes.
pub(super) fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}

/// User plus system CPU time in seconds (clock ticks of 1/100 s, as on every Linux build here).
pub(super) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Number of open file descriptors.
pub(super) fn open_fds() -> Option<f64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as f64)
}

/// Hands memory the allocator holds but no longer uses back to the operating system (glibc's
/// `malloc_trim`); called after one-off bulk work such as restoring the store checkpoint.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Sets glibc's allocator up for a long-running process that handles large, short-lived
/// buffers (scrape bodies of many MiB): buffers of 1 MiB and more are mapped and unmapped
/// directly instead of being kept on the heap, and at most two arenas are used. Without this,
/// glibc raises its mmap threshold after the first freed body and keeps every later one
/// resident, and each runtime thread grows an arena of its own.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
