//! *Process facts* read from `/proc/self` (Linux): resident memory, CPU seconds, open file
//! descriptors. Elsewhere they are simply absent from `/metrics`. Also the process' memory
//! tuning: the allocator's settings and *code trimming* (handing back the resident pages of
//! sidewatch's own code that nothing runs any more).

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
/// buffers (scrape bodies of many MiB): buffers of 512 KiB and more are mapped and unmapped
/// directly instead of being kept on the heap, and at most two arenas are used. Without this,
/// glibc raises its mmap threshold after the first freed body and keeps every later one
/// resident, and each runtime thread grows an arena of its own. The threshold is 512 KiB so
/// that a scrape's values (8 bytes a sample, 0.8 MB at 100k series) are mapped too, not left
/// on the heap between scrapes as they would be under 1 MiB.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 10);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Asks the kernel to reclaim the resident pages of this executable's read-only mappings (its
/// code and read-only data) with `MADV_PAGEOUT`: pages mapped only here leave memory, and the
/// code that still runs faults its pages back in from the file (the same pages, read again).
/// Start-up runs much code once — configuration, migrations, TLS and template set-up — whose
/// pages would otherwise stay resident for the life of the process. Writable mappings and
/// other files (shared libraries, chunk files) are left alone. Returns the bytes of the
/// mappings advised; fails where `/proc/self/maps` or `MADV_PAGEOUT` (Linux 5.4+) is missing.
pub fn trim_code_pages() -> std::io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        let exe = std::fs::read_link("/proc/self/exe")?;
        let exe = exe.to_string_lossy();
        let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        let mut advised = 0;
        for line in maps.lines() {
            let mut f = line.split_whitespace();
            let (Some(range), Some(perms)) = (f.next(), f.next()) else { continue };
            let path = f.nth(3).unwrap_or("");
            if path != exe || perms.contains('w') {
                continue;
            }
            let Some((a, b)) = range.split_once('-') else { continue };
            let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else { continue };
            // SAFETY: the range is one of this process' own mappings, read-only; MADV_PAGEOUT
            // is a hint that never changes the contents a later access sees.
            if unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_PAGEOUT) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            advised += b - a;
        }
        Ok(advised)
    }
    #[cfg(not(target_os = "linux"))]
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "code trimming needs Linux"))
}

/// Trims the code pages ([`trim_code_pages`]) a minute after start (or `every`, when
/// shorter) and then every `every`, until `shutdown`; stops at the first failure (an old
/// kernel), which it logs once.
pub async fn trim_code_task(every: std::time::Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut wait = every.min(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = crate::shutdown::stopped(&mut shutdown) => return,
        }
        match tokio::task::spawn_blocking(trim_code_pages).await {
            Ok(Ok(bytes)) => tracing::debug!(bytes, "trimmed resident code pages"),
            Ok(Err(e)) => {
                tracing::info!(error = %e, "cannot trim resident code pages; server.code_trim_interval has no effect here");
                return;
            }
            Err(_) => return,
        }
        wait = every;
    }
}

#[cfg(test)]
mod tests {
    /// Resident kB of this executable's read-only mappings (from `/proc/self/smaps`).
    fn exe_resident_kb() -> u64 {
        let exe = std::fs::read_link("/proc/self/exe").unwrap().to_string_lossy().into_owned();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut ours = false;
        let mut kb = 0;
        for line in smaps.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.first().is_some_and(|r| r.contains('-') && !r.ends_with(':')) && f.len() >= 5 {
                ours = f.get(5) == Some(&exe.as_str()) && !f[1].contains('w');
            } else if ours && f.first() == Some(&"Rss:") {
                kb += f[1].parse::<u64>().unwrap();
            }
        }
        kb
    }

    #[test]
    fn trimming_takes_resident_code_pages_back_and_the_code_still_runs() {
        let before = exe_resident_kb();
        match super::trim_code_pages() {
            Ok(bytes) => assert!(bytes > 0, "the executable has read-only mappings"),
            Err(e) => {
                println!("SKIPPED: MADV_PAGEOUT unavailable here ({e})");
                return;
            }
        }
        let after = exe_resident_kb();
        assert!(after < before, "resident code pages {before} kB -> {after} kB");
        // Code paged out runs again (its pages fault back in from the file).
        let v: Vec<String> = (0..1000).map(|i| format!("{i:x}")).collect();
        assert_eq!(v.join(",").len(), 3_727);
        assert!(super::trim_code_pages().is_ok());
    }
}
