//! The client commands' connection flags (`--server`, `--api-key`, `--output`): each client
//! subcommand carries its own copy, so `serve`, `check` and `build` neither show nor take
//! them. The position before the subcommand (`predictor --server URL list`, from when they
//! were global) still parses, through hidden copies on the top-level command.

use super::ClientCommand;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};

/// Where the server is and how to talk to it.
#[derive(Args, Debug, Clone)]
pub struct ClientOptions {
    /// The server's base URL.
    #[arg(
        long,
        env = "PREDICTOR_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// An API key, sent as `Authorization: ApiKey <key>`.
    #[arg(long, env = "PREDICTOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// `table` for people, `json` for scripts.
    #[arg(long, env = "PREDICTOR_OUTPUT", value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// The flags' ids, as clap names the fields above.
pub const IDS: [&str; 3] = ["server", "api_key", "output"];

impl ClientOptions {
    /// Whether any of these flags was typed on the command line (not from env or default).
    pub fn given(matches: &ArgMatches) -> bool {
        IDS.iter()
            .any(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
    }

    /// Takes each flag typed before the subcommand (`leading`, parsed from `leading_matches`)
    /// unless the subcommand's own was typed too (`own_matches`): a typed flag outranks the
    /// env var and the default, and the later of two typed ones wins.
    pub fn take_leading(
        &mut self,
        leading: &ClientOptions,
        leading_matches: &ArgMatches,
        own_matches: &ArgMatches,
    ) {
        let typed = |m: &ArgMatches, id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        let take = |id: &str| typed(leading_matches, id) && !typed(own_matches, id);
        if take("server") {
            self.server.clone_from(&leading.server);
        }
        if take("api_key") {
            self.api_key.clone_from(&leading.api_key);
        }
        if take("output") {
            self.output = leading.output;
        }
    }
}

impl ClientCommand {
    /// The connection flags this command was given.
    pub fn options_mut(&mut self) -> &mut ClientOptions {
        match self {
            ClientCommand::Deploy { options, .. }
            | ClientCommand::List { options }
            | ClientCommand::Describe { options, .. }
            | ClientCommand::Start { options, .. }
            | ClientCommand::Stop { options, .. }
            | ClientCommand::Restart { options, .. }
            | ClientCommand::Rollback { options, .. }
            | ClientCommand::Delete { options, .. }
            | ClientCommand::Logs { options, .. }
            | ClientCommand::Predict { options, .. } => options,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, parse_from};
    use clap::CommandFactory as _;

    /// What the client flags show in a help text: the flags and their env vars (`build` has
    /// an `--output` of its own, the component's path, with another env var).
    const SHOWN: [&str; 5] = [
        "--server <SERVER>",
        "--api-key <API_KEY>",
        "[env: PREDICTOR_SERVER=",
        "[env: PREDICTOR_API_KEY]",
        "[env: PREDICTOR_OUTPUT=",
    ];

    fn help(name: Option<&str>) -> String {
        let mut cli = Cli::command();
        cli.build();
        let command = match name {
            Some(name) => cli.find_subcommand_mut(name).unwrap(),
            None => &mut cli,
        };
        command.render_long_help().to_string()
    }

    #[test]
    fn client_flags_are_in_the_client_commands_help_only() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        let server_side = ["serve", "check", "build"];
        assert!(server_side.iter().all(|s| names.iter().any(|n| n == s)));
        for name in &names {
            let text = help(Some(name));
            for shown in SHOWN {
                let has = text.contains(shown);
                if server_side.contains(&name.as_str()) {
                    assert!(!has, "`predictor {name} --help` shows {shown}:\n{text}");
                } else {
                    assert!(has, "`predictor {name} --help` lacks {shown}:\n{text}");
                }
            }
        }
        let top = help(None);
        assert!(SHOWN.iter().all(|s| !top.contains(s)), "{top}");
    }

    fn options(args: &[&str]) -> ClientOptions {
        let mut all = vec!["predictor"];
        all.extend(args);
        match parse_from(all).unwrap().command {
            Command::Client(mut c) => c.options_mut().clone(),
            other => panic!("{other:?} is not a client command"),
        }
    }

    #[test]
    fn client_flags_parse_before_and_after_the_subcommand() {
        assert_eq!(
            options(&["list", "--server", "http://a"]).server,
            "http://a"
        );
        assert_eq!(
            options(&["--server", "http://a", "list"]).server,
            "http://a"
        );
        let both = options(&[
            "--server", "http://a", "describe", "x", "--server", "http://b",
        ]);
        assert_eq!(both.server, "http://b");
        let leading = options(&["--output", "json", "--api-key", "k", "logs", "x", "-f"]);
        assert_eq!(leading.output, Output::Json);
        assert_eq!(leading.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn client_flags_are_refused_by_the_server_commands() {
        for args in [
            &["predictor", "serve", "--server", "http://a"][..],
            &["predictor", "--server", "http://a", "serve"],
            &["predictor", "--api-key", "k", "check", "dir"],
        ] {
            assert!(parse_from(args).is_err(), "{args:?} parsed");
        }
    }
}
