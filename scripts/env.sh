# Sourced by the scripts: finds JDK 25 and sets the per-job caches. Not meant to be run directly.

gale_find_jdk() {
  local candidate version
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    version=$("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ -n "$version" ] && [ "${version%%.*}" -ge 25 ] 2>/dev/null; then
      return 0
    fi
    echo "JAVA_HOME=$JAVA_HOME is Java ${version:-unknown}; Gale needs 25 or newer, looking under /usr/lib/jvm" >&2
  fi
  for candidate in /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/temurin-2[6-9]-jdk* /usr/lib/jvm/*-25* /usr/lib/jvm/*25*; do
    if [ -x "$candidate/bin/java" ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "error: no JDK 25 found. Install Temurin 25 (or set JAVA_HOME to a JDK 25+) and rerun." >&2
  return 1
}

gale_find_jdk || exit 1
export PATH="$JAVA_HOME/bin:$PATH"
GALE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GALE_ROOT
# PoCL's kernel cache and JMH's lock file go to a per-checkout directory, not the shared defaults.
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$GALE_ROOT/target/pocl-cache}"
mkdir -p "$POCL_CACHE_DIR"
# Signal chaining: with libjsig preloaded, a native library that installs a SIGSEGV/SIGBUS handler (PoCL's LLVM does)
# gets it chained behind the JVM's instead of replacing it. Without it, a safepoint can kill the JVM with a bare
# SIGSEGV (exit 139, no hs_err file). Child JVMs (Maven's test forks, JMH's forks) inherit it.
if [ -f "$JAVA_HOME/lib/libjsig.so" ]; then
  case ":${LD_PRELOAD:-}:" in
    *":$JAVA_HOME/lib/libjsig.so:"*) ;;
    *) export LD_PRELOAD="$JAVA_HOME/lib/libjsig.so${LD_PRELOAD:+:$LD_PRELOAD}" ;;
  esac
fi
GALE_JVM_FLAGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow"
export GALE_JVM_FLAGS
