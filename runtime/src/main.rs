//! The `predictor` binary: parse and dispatch, nothing else (see `cli`).

// Request handling allocates many small short-lived buffers (bodies, tensors, plan state);
// mimalloc serves them markedly faster than glibc's allocator under concurrency.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    predictor_runtime::cli::main()
}
