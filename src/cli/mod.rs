//! The *command line*: `sidewatch <command>` with a global `--config PATH`. Exit status 0 on
//! success, 1 on an error or invalid input (the message says what and where), 2 on a usage
//! error.

use crate::settings::{self as config, LoadedConfig};

mod audit_cmd;
mod demo;
mod notify_cmd;
mod report_cmd;
mod rules_cmd;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// sidewatch: scrape a service, evaluate Prometheus alert rules, deliver alerts, write reports.
#[derive(Debug, Parser)]
#[command(name = "sidewatch", version = VERSION, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (default: sidewatch.toml in the working directory, if present).
    #[arg(long, global = true, env = "SIDEWATCH_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `--version`: the version, the git revision and the build date (also in
/// `/api/v1/status/buildinfo`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SIDEWATCH_GIT_REVISION"),
    ", branch ",
    env!("SIDEWATCH_GIT_BRANCH"),
    ", built ",
    env!("SIDEWATCH_BUILD_DATE"),
    ")"
);

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the sidecar: HTTP server and pipeline, until SIGINT or SIGTERM.
    Run,
    /// A one-minute demo on loopback: a service fails, an alert fires, is delivered to a
    /// webhook and resolves.
    Demo,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check rule files like `promtool check rules`: YAML, PromQL and template errors with
    /// file:line:column, exit 1 on errors.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Run rule unit tests in promtool's format.
    Test {
        /// Write the results as JUnit XML to this file (promtool's place for `--junit`;
        /// `test rules --junit` works too).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// What to test.
        #[command(subcommand)]
        what: TestCommand,
    },
    /// Reports: baseline, KPI rollup, weekly digest, incident note, recovery check, event
    /// generator, job runs.
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// Create, list and expire silences.
    #[command(subcommand)]
    Silence(notify_cmd::SilenceCommand),
    /// Alert delivery history, retries and exports.
    #[command(subcommand)]
    Alerts(notify_cmd::AlertsCommand),
    /// The audit log: start and stop, and every admin write and refused admin request.
    Audit {
        /// How far back (e.g. 1h, 7d).
        #[arg(long, default_value = "24h")]
        since: String,
        /// At most this many rows, newest first.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a test notification, or preview the messages for an alert.
    #[command(subcommand)]
    Notify(notify_cmd::NotifyCommand),
    /// Print a shell completion script: `sidewatch completions bash > /etc/bash_completion.d/sidewatch`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `sidewatch man > /usr/local/share/man/man1/sidewatch.1`.
    Man,
    /// Ask a running sidewatch for `/healthz` (for a container's HEALTHCHECK): exit 0 when it
    /// answers 2xx within 3 s, else 1.
    Healthcheck {
        /// Base URL (default: `server.listen` on loopback).
        #[arg(long)]
        url: Option<String>,
    },
    /// The built-in rule packs and runbooks.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run PromQL test scripts (Prometheus' promqltest format) against the engine; prints per
    /// file the evals passed, failed and skipped, and exits 1 when any failed.
    Promqltest {
        /// Script files (`*.test`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `sidewatch rules …`
#[derive(Debug, Subcommand)]
pub(crate) enum RulesCommand {
    /// Write the built-in rule packs (`DIR/rules/*.yml`) and runbooks (`DIR/runbooks/*.md`)
    /// out to edit; point `rules.files` and `notify.runbooks_dir` at them to use the copies.
    Export {
        /// Target folder (created if missing).
        dir: PathBuf,
        /// Replace files that are already there.
        #[arg(long)]
        force: bool,
    },
}

/// `sidewatch config …`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate the configuration; exit 1 and name every problem if it is invalid.
    Check,
    /// Print the effective configuration (file + environment + defaults), secrets redacted.
    Print {
        /// Output format.
        #[arg(long, value_enum, default_value_t = PrintFormat::Toml)]
        format: PrintFormat,
    },
}

/// `sidewatch check …`
#[derive(Debug, Subcommand)]
pub(crate) enum CheckCommand {
    /// Check rule files (or every `*.yml`/`*.yaml` in a directory).
    Rules {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
        /// Which lint checks to run, as promtool's `--lint` (and its default,
        /// `duplicate-rules`): `all`, `none`, or names separated by commas: duplicate-rules,
        /// short-range, recording-name, for-shorter-than-interval, missing-severity,
        /// missing-summary, missing-runbook-url, mixed-severity, no-target-exposes.
        #[arg(long, default_value = "duplicate-rules", value_parser = parse_lint)]
        lint: LintMode,
        /// Exit 3 when there are lint warnings (and no errors), as promtool's `--lint-fatal`.
        #[arg(long)]
        lint_fatal: bool,
    },
}

/// `check rules --lint`: the lint checks to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LintMode(pub(crate) Vec<&'static str>);

fn parse_lint(s: &str) -> Result<LintMode, String> {
    use crate::rules::lint::CHECKS;
    match s {
        "all" => Ok(LintMode(CHECKS.to_vec())),
        "none" => Ok(LintMode(Vec::new())),
        _ => {
            s.split(',')
                .map(|n| {
                    let n = n.trim();
                    CHECKS.iter().find(|c| **c == n).copied().ok_or_else(|| {
                        format!("unknown lint check {n:?}; use all, none or some of: {}", CHECKS.join(", "))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(LintMode)
        }
    }
}

/// Output format of `check rules`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CheckFormat {
    /// Lines for people.
    Text,
    /// One JSON document for CI bots.
    Json,
}

/// `sidewatch test …`
#[derive(Debug, Subcommand)]
pub(crate) enum TestCommand {
    /// Run promtool-format rule unit test files.
    Rules {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Run only the test groups whose name matches this regular expression (found anywhere
        /// in the name); may be given more than once (as promtool's `--run`).
        #[arg(long = "run", value_name = "REGEX")]
        run: Vec<String>,
        /// Also write the results as JUnit XML to this file (one suite per test file).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
}

/// Output format of `config print`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum PrintFormat {
    /// TOML, loadable as a config file.
    Toml,
    /// JSON.
    Json,
}

/// Parses the command line and runs it; returns the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run | Command::Demo) {
        // A command whose output is piped into `head` ends quietly when the reader goes away,
        // as Unix tools do, instead of panicking on the closed pipe. (The server keeps Rust's
        // default, which turns a closed socket into an error, not a signal.)
        // SAFETY: called once at start, before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load(cli: &Cli) -> Result<LoadedConfig, ExitCode> {
    config::load(cli.config.as_deref()).map_err(|e| {
        eprintln!("error: invalid configuration:\n{e}");
        ExitCode::from(1)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Check(CheckCommand::Rules { paths, format, lint, lint_fatal }) => {
            // The scrape interval (for range checks) and the targets (for metrics nobody
            // exposes) come from the configuration when there is one.
            let loaded = config::load(cli.config.as_deref()).ok();
            let scrape = loaded.as_ref().map_or(15_000, |l| l.config.scrape.interval.get().as_millis() as i64);
            let urls: Vec<String> = loaded
                .map(|l| l.config.targets.iter().filter_map(|t| t.metrics_url.clone()).collect())
                .unwrap_or_default();
            let lint = (lint.0.clone(), *lint_fatal);
            return Ok(super::cli::rules_cmd::check(paths, *format == CheckFormat::Json, scrape, &urls, lint));
        }
        Command::Test { junit: outer, what: TestCommand::Rules { files, run, junit } } => {
            return Ok(super::cli::rules_cmd::test(files, run, junit.as_deref().or(outer.as_deref())));
        }
        _ => {}
    }
    if let Command::Completions { shell } = &cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut cmd, "sidewatch", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Rules(RulesCommand::Export { dir, force }) = &cli.command {
        return Ok(super::cli::rules_cmd::export(dir, *force));
    }
    if let Command::Man = &cli.command {
        let cmd = <Cli as clap::CommandFactory>::command();
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Demo = &cli.command {
        crate::telemetry::init_logging(&crate::telemetry::LogConfig {
            level: "warn".into(),
            format: crate::telemetry::LogFormat::Pretty,
        });
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        rt.block_on(demo::run())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Promqltest { files } = &cli.command {
        let (_, failed, _) = crate::promql::promqltest::run_files(files, &mut std::io::stdout().lock())?;
        return Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS });
    }
    let loaded = match load(&cli) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    match cli.command {
        Command::Config(ConfigCommand::Check) => {
            let source = loaded.file.as_ref().map_or("built-in defaults".into(), |f| f.display().to_string());
            // Templates and webhook body files are files: compile and render them too.
            // And the rule files it names: every problem is reported, not only the first.
            let cfg = &loaded.config;
            let mut problems = Vec::new();
            if !cfg.notify.receivers.is_empty()
                && let Err(e) = crate::notify::Plan::build(&cfg.notify, &loaded.base_dir, &cfg.external_url())
            {
                problems.push(format!("[notify]: {e}"));
            }
            let interval = cfg.rules.evaluation_interval.get().as_millis() as i64;
            if let Err(errs) = crate::rules::load_globs(&loaded.base_dir, &cfg.rules.files, interval) {
                problems.extend(errs.iter().map(|e| format!("rules.files: {e}")));
            }
            if !problems.is_empty() {
                eprintln!("error: invalid configuration:\n{}", problems.join("\n"));
                return Ok(ExitCode::from(1));
            }
            println!("{source}: configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Print { format }) => {
            let text = match format {
                PrintFormat::Toml => toml::to_string_pretty(&loaded.config)?,
                PrintFormat::Json => serde_json::to_string_pretty(&loaded.config)? + "\n",
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(c) => report_cmd::report(&loaded, &c),
        Command::Silence(c) => notify_cmd::silence(&loaded, &c),
        Command::Alerts(c) => notify_cmd::alerts(&loaded, &c),
        Command::Notify(c) => notify_cmd::notify(&loaded, &c),
        Command::Audit { since, limit, json } => audit_cmd::audit(&loaded, &since, limit, json),
        Command::Healthcheck { url } => healthcheck(&loaded, url.as_deref()),
        Command::Promqltest { .. }
        | Command::Check(_)
        | Command::Test { .. }
        | Command::Demo
        | Command::Completions { .. }
        | Command::Rules(_)
        | Command::Man => {
            unreachable!("handled before loading the configuration")
        }
        Command::Run => {
            crate::telemetry::tune_allocator();
            crate::telemetry::init_logging(&loaded.config.log);
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(async {
                let app = crate::startup::Application::build(loaded).await?;
                app.run_until(crate::startup::shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `sidewatch healthcheck [--url]`: GET `/healthz` of a running sidewatch.
fn healthcheck(loaded: &LoadedConfig, url: Option<&str>) -> anyhow::Result<ExitCode> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let listen = &loaded.config.server.listen;
            let port = listen.rsplit(':').next().unwrap_or("9465");
            let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
            let host = if matches!(host, "0.0.0.0" | "" | "[::]" | "::") { "127.0.0.1" } else { host };
            format!("http://{host}:{port}")
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer = rt.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
        client.get(format!("{base}/healthz")).send().await
    });
    match answer {
        Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("{base}/healthz answered {}", r.status());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("{base}/healthz: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
