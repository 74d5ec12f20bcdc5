# Sourced by every non-interactive bash of a JEM-monitored job (the monitor sets BASH_ENV).
# Sends bash's xtrace, with a machine-readable PS4 (the time of each command, the pid that
# prints it, the statuses of the last pipeline: how its children ended), to a file of its
# own that the monitor turns into `command` records. The job's stdout and stderr are
# untouched; scripts of the system (and shells already tracing to stderr) are left alone.
if [ -n "${JEM_BASH_ENV_ORIG-}" ] && [ -r "${JEM_BASH_ENV_ORIG-}" ]; then
  . "$JEM_BASH_ENV_ORIG"
fi
__jem_trace=1
case "$-" in *x*) __jem_trace= ;; esac
if [ -z "${BASH_EXECUTION_STRING-}" ]; then
  case "$0" in
    /usr/*|/bin/*|/sbin/*|/lib/*|/lib64/*|/etc/*|/opt/*|/cvmfs/*|*/.pyenv/*|*/libexec/*) __jem_trace= ;;
  esac
fi
if [ -n "$__jem_trace" ] && [ -n "${JEM_RUN_DIR-}" ] && [ -d "$JEM_RUN_DIR/bash" ]; then
  unset __jem_trace
  if { exec {__jem_fd}>>"$JEM_RUN_DIR/bash/$$.trace"; } 2>/dev/null; then
    __jem_exit() {
      printf '\036X\037%s\037%s\n' "$1" "${EPOCHREALTIME-}" >&"$__jem_fd"
    }
    printf '\036H\037%s\037%s\037%s\037%s' "$$" "$PPID" "$PWD" "${EPOCHREALTIME-}" >&"$__jem_fd"
    # The command line as the kernel has it (`bash -c '...' name arg`), else $0 and the arguments.
    if { mapfile -d '' -t __jem_argv < "/proc/$$/cmdline"; } 2>/dev/null && [ ${#__jem_argv[@]} -gt 0 ]; then
      printf '\037%s' "${__jem_argv[@]}" >&"$__jem_fd"
    else
      printf '\037%s' "$0" "$@" >&"$__jem_fd"
    fi
    unset __jem_argv
    printf '\n' >&"$__jem_fd"
    trap '__jem_exit $?' EXIT
    BASH_XTRACEFD=$__jem_fd
    PS4=$'\036''${EPOCHREALTIME-}'$'\037''${BASH_SOURCE[0]-}'$'\037''${LINENO}'$'\037''${FUNCNAME[0]-}'$'\037''${FUNCNAME[0]+${#FUNCNAME[@]}}'$'\037''${BASH_SUBSHELL}'$'\037''${BASHPID}'$'\037''${PIPESTATUS[*]-}'$'\037'
    set -x
  fi
else
  unset __jem_trace
fi
