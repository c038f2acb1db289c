//! The `predictor` binary: parse and dispatch, nothing else (see `cli`).

fn main() -> std::process::ExitCode {
    predictor_runtime::cli::main()
}
