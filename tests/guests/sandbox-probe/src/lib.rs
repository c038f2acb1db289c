//! Test guest: reports what the sandbox lets it see and do, so tests can assert the grants:
//! its environment, reading and writing artifact files, escaping the artifact folder,
//! reading host files, opening network connections, and printing.

use predictor_guest::{PredictError, Predictor, Value, export_predictor, json};
use std::collections::BTreeMap;

struct Probe;

fn outcome<T>(r: std::io::Result<T>) -> Value {
    match r {
        Ok(_) => json!("ok"),
        Err(e) => json!(format!("error: {e}")),
    }
}

impl Predictor for Probe {
    fn init() -> Result<Self, PredictError> {
        println!("probe initialised");
        Ok(Probe)
    }

    fn predict(&self, _instances: Value) -> Result<Value, PredictError> {
        let artifacts = predictor_guest::artifact_path();
        let env: BTreeMap<String, String> = std::env::vars().collect();
        println!("probe stdout line");
        eprintln!("probe stderr line");
        Ok(json!({
            "env": env,
            "args": std::env::args().collect::<Vec<_>>(),
            "read_artifact": std::fs::read_to_string(artifacts.join("secret.txt")).map_err(|e| e.to_string()),
            "list_artifacts": std::fs::read_dir(&artifacts)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
                .map_err(|e| e.to_string()),
            "write_artifact": outcome(std::fs::write(artifacts.join("new.txt"), "x")),
            "escape_parent": outcome(std::fs::read_to_string(artifacts.join("../../etc/passwd"))),
            "read_etc_passwd": outcome(std::fs::read_to_string("/etc/passwd")),
            "read_root": outcome(std::fs::read_dir("/")),
            "tcp_connect": outcome(std::net::TcpStream::connect("127.0.0.1:1")),
            "dns": outcome(std::net::ToSocketAddrs::to_socket_addrs("localhost:80")),
        }))
    }
}

export_predictor!(Probe);
