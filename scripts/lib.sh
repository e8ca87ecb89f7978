# Sourced by the other scripts. uv may be installed where the shell does not look (pip's user
# or interpreter bin folder): fall back to running it as a module.
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  UV=(python3 -m uv)
fi
