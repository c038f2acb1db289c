//! The `predictor` command, built with the tests so the end-to-end tests run the binary of
//! this very source (Cargo gives integration tests the path of their own package's binaries).

fn main() -> std::process::ExitCode {
    predictor_runtime::main()
}
