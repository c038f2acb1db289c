//! The `predictor` command line: arguments parsed cheaply first (every flag also an env
//! var), then dispatched.

mod serve_args;

use crate::allocator;
use crate::capacity::NodeCapacity;
use crate::client::{ClientCommand, ClientOptions};
use crate::deployment::Deployment;
use crate::process::ProcessState;
use crate::python::Componentizer;
use crate::role::Role;
use crate::server::serve;
use crate::wasm::engine::EngineLimits;
use anyhow::Context as _;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
pub use serve_args::ServeArgs;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "predictor",
    version,
    about = "WebAssembly-sandboxed predictor runtime (KServe V1/V2)",
    mut_arg("server", |a: clap::Arg| a.hide(true)),
    mut_arg("api_key", |a: clap::Arg| a.hide(true)),
    mut_arg("output", |a: clap::Arg| a.hide(true))
)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `predictor_runtime=debug`.
    #[arg(long, env = "PREDICTOR_LOG", default_value = "info", global = true)]
    pub log: String,
    /// The client commands' flags when typed before the subcommand (hidden: each client
    /// command shows its own; see [`parse_from`]).
    #[command(flatten)]
    pub client: ClientOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve deployments over KServe V1 and the Open Inference Protocol.
    Serve(Box<ServeArgs>),
    /// Validate a deployment folder: definition, files, component or model, guest init.
    Check(CheckArgs),
    /// Componentize a Python `Predict` script (and a `Transformer` script) into components.
    Build(BuildArgs),
    /// The management API's client commands (`--server URL`).
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The deployment folder (holding `deployment.json`).
    pub dir: PathBuf,
    /// Where the compiled-component and script-build caches live.
    #[arg(long, env = "PREDICTOR_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// The componentize-py executable, for `script_file` deployments.
    #[arg(long, env = "PREDICTOR_COMPONENTIZE_PY")]
    pub componentize_py: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The Python script: a Hopsworks `Predict` class (or, with `--kind transformer`, a
    /// `Transformer` class).
    pub script: PathBuf,
    /// Which class the script provides.
    #[arg(
        long,
        env = "PREDICTOR_BUILD_KIND",
        value_enum,
        default_value = "predictor"
    )]
    pub kind: BuildKind,
    /// Also build this `Transformer` script, into `<its name>.wasm` beside the output.
    #[arg(long, env = "PREDICTOR_BUILD_TRANSFORMER")]
    pub transformer: Option<PathBuf>,
    /// The component to write (default: the script's name with `.wasm`).
    #[arg(short, long, env = "PREDICTOR_BUILD_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Where built components are cached.
    #[arg(long, env = "PREDICTOR_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// The componentize-py executable.
    #[arg(long, env = "PREDICTOR_COMPONENTIZE_PY")]
    pub componentize_py: Option<PathBuf>,
}

/// The class a script provides.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum BuildKind {
    Predictor,
    Transformer,
}

/// Parses the arguments. The client flags typed before the subcommand (`predictor --server
/// URL list`) are the subcommand's unless it was given its own; before `serve`, `check` or
/// `build` they are an error, as they mean nothing there.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(args)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    match (&mut cli.command, matches.subcommand()) {
        (Command::Client(c), Some((_, own))) => {
            c.options_mut().take_leading(&cli.client, &matches, own)
        }
        (_, Some((name, _))) if ClientOptions::given(&matches) => {
            return Err(command.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--server, --api-key and --output are for the client commands (list, \
                     deploy, ...), not `{name}`"
                ),
            ));
        }
        _ => {}
    }
    Ok(cli)
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(a) => {
            allocator::set_purge_delay(a.memory_purge_delay_ms);
            serve(a.options()?).await
        }
        Command::Build(a) => build(a).await,
        Command::Client(c) => crate::client::run(c).await,
        Command::Check(a) => {
            let process = ProcessState::new(
                &a.data_dir,
                &EngineLimits::default(),
                a.componentize_py,
                NodeCapacity::detect(),
            )?;
            let report = Deployment::check(&process, &a.dir).await?;
            for w in &report.warnings {
                println!("warning: {w}");
            }
            println!(
                "ok: deployment {:?} in {} would serve",
                report.config.name,
                a.dir.display()
            );
            Ok(())
        }
    }
}

/// `predictor build`: componentizes the script(s) and writes the components.
async fn build(a: BuildArgs) -> anyhow::Result<()> {
    let componentizer = Componentizer::new(a.componentize_py, &a.data_dir.join("python"));
    let output = a.output.unwrap_or_else(|| a.script.with_extension("wasm"));
    let kind = match a.kind {
        BuildKind::Predictor => Role::Predictor,
        BuildKind::Transformer => Role::Transformer,
    };
    let mut jobs = vec![(kind, a.script, output.clone())];
    if let Some(t) = a.transformer {
        let name = t.with_extension("wasm");
        let name = name
            .file_name()
            .context("the transformer script has no file name")?;
        let out = output.with_file_name(name);
        jobs.push((Role::Transformer, t, out));
    }
    for (kind, script, out) in jobs {
        let source = std::fs::read_to_string(&script)
            .with_context(|| format!("reading {}", script.display()))?;
        let filename = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("the script has no file name")?;
        eprintln!("componentizing {} ({kind:?})...", script.display());
        let built = componentizer
            .build(kind, &filename, &source)
            .with_context(|| format!("building {}", script.display()))?;
        std::fs::write(&out, &built.bytes).with_context(|| format!("writing {}", out.display()))?;
        println!(
            "wrote {} ({:.1} MB) in {:.1} s{}",
            out.display(),
            built.bytes.len() as f64 / 1e6,
            built.elapsed.as_secs_f64(),
            if built.cached {
                " (from the build cache)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn init_tracing(filter: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}

/// Whether logs are coloured: only for a terminal (escape codes are noise in a file, a pipe
/// or a log collector), and never with `NO_COLOR` set to something (https://no-color.org).
fn colour(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_has_an_env_var() {
        fn check(cmd: &clap::Command) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if arg.is_positional() || builtin {
                    continue;
                }
                assert!(
                    arg.get_env().is_some(),
                    "`{} --{}` has no env var",
                    cmd.get_name(),
                    arg.get_id()
                );
            }
            // The client commands' own flags (`--tail`, `--data`...) are per call, not
            // settings: only the server's commands and the global options need env vars.
            cmd.get_subcommands()
                .filter(|c| ["serve", "check", "build"].contains(&c.get_name()))
                .for_each(check);
        }
        check(&Cli::command());
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some("".into())),
            "an empty NO_COLOR is as if unset"
        );
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "predictor",
            "serve",
            "--listen",
            "127.0.0.1:9000",
            "--deploy",
            "a",
            "--deploy",
            "b",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.deploy, [PathBuf::from("a"), PathBuf::from("b")]);
    }
}
