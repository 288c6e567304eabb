//! The `sidewatch` binary: everything lives in the library; see [`sidewatch::cli`].

fn main() -> std::process::ExitCode {
    sidewatch::cli::main()
}
