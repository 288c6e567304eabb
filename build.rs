// Rebuild when a migration is added: `sqlx::migrate!` embeds the folders at compile time. And
// record the git revision and the build date for /api/v1/status/buildinfo and `--version`.
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=src/storage/migrations");
    if let Some(dir) = run("git", &["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(r) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{r}");
        }
    }
    let rev = run("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let branch = run("git", &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Prometheus' format: 20230217-22:08:57 (UTC).
    let date = run("date", &["-u", "+%Y%m%d-%H:%M:%S"]).unwrap_or_default();
    println!("cargo:rustc-env=SIDEWATCH_GIT_REVISION={rev}");
    println!("cargo:rustc-env=SIDEWATCH_GIT_BRANCH={branch}");
    println!("cargo:rustc-env=SIDEWATCH_BUILD_DATE={date}");
}
