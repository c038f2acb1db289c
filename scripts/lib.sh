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
