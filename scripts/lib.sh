# Shared by the scripts: sourced, not run.

say() { printf '==> %s %s\n' "$(date +%T)" "$*" >&2; }

# Installs a requirements file into a venv (default .venv) unless that exact file was
# installed already.
venv_install() {
  local requirements=$1 venv=${2:-.venv}
  local stamp="$venv/.$(basename "$1").sha256"
  if [ ! -f "$stamp" ] || ! sha256sum --status -c "$stamp"; then
    say "installing $requirements into $venv"
    "$venv"/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    sha256sum "$requirements" > "$stamp"
  fi
}

# Whether tansu (the Kafka-compatible broker the log tests and benchmarks run) is installed.
have_tansu() {
  command -v tansu >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]
}

# Installs tansu from crates.io. Built at opt-level 1: it carries a few hundred records in
# the tests, and at crates' default level 3 its build (rhai, reqwest, object_store, ...)
# took 16 minutes on its own on a 2-core machine.
install_tansu() {
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --locked --quiet tansu --version 0.6.0 --features dynostore
}
