# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_breakerctl_global_optspecs
    string join \n db= json output= color= busy-timeout= cooldown= failure-threshold= reset-timeout= h/help V/version
end

function __fish_breakerctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_breakerctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_breakerctl_using_subcommand
    set -l cmd (__fish_breakerctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c breakerctl -n "__fish_breakerctl_needs_command" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_needs_command" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "status-all" -d 'Every breaker: state, failures, last error, latency, trips, last reset'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "ls" -d 'Every breaker: state, failures, last error, latency, trips, last reset'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "status" -d 'One breaker in detail, with its latest audit rows'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "trip" -d 'Force a breaker open until someone resets it'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "reset" -d 'Close a breaker; refused inside the cooldown unless --force'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "audit" -d 'The audit trail, newest first'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "doctor" -d 'Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "init" -d 'Create the database and schema at --db (idempotent)'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "metrics" -d 'Prometheus text exposition of every breaker, to stdout'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "serve" -d 'Serve /metrics and /healthz over HTTP (GET and HEAD)'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "simulate" -d 'Run the market-probe service against simulated bookmakers on 127.0.0.1 and report what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "repl" -d 'Interactive console (the same commands, with completion and history)'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "completions" -d 'Shell completion script, to stdout'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "man" -d 'Man pages (roff): breakerctl(1), or one command\'s page, to stdout; or every page to a folder for packaging'
complete -c breakerctl -n "__fish_breakerctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l watch -d 'Redraw every INTERVAL until Ctrl-C' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l tripped -d 'Only tripped breakers'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status-all" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l watch -d 'Redraw every INTERVAL until Ctrl-C' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l tripped -d 'Only tripped breakers'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand ls" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand status" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l reason -d 'Why (recorded in the audit trail)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l user -d 'Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is recorded beside it' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l create -d 'Allow a name the database has never seen (a typo guard)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand trip" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l reason -d 'Why (required with --force)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l user -d 'Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is recorded beside it' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l force -d 'Override the cooldown (needs --reason)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l dry-run -d 'Only say whether the reset would be allowed; write nothing'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l yes -d 'In the REPL, skip typing the name to confirm a forced reset'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand reset" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l bookmaker -d 'Only this breaker, by option (for a breaker named like a subcommand: `--bookmaker verify`)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l since -d 'Only rows since a duration ago (1h, 30m) or an RFC 3339 time' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l action -d 'Only this action (TRIP, RESET, RESET_DENIED, PROBE_START, CLOSE, REOPEN)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l user -d 'Only this user' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l limit -d 'At most N rows' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -a "verify" -d 'Check the audit trail\'s hash chain; names the first broken row'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the audit trail\'s hash chain; names the first broken row'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l alert-window -d 'Report breakers tripped for longer than this (the CircuitBreakerTripped alert\'s `for`)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand init" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand metrics" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l listen -d 'Address to listen on, HOST:PORT; loopback unless told otherwise' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand serve" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l scenario -d 'steady: all healthy; outage: one bookmaker fails hard mid-run; spike: 50x traffic while one bookmaker slows into timeouts and the host load passes the shedding threshold' -r -f -a "steady\t''
outage\t''
spike\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l duration -d 'How long the callers run (1s to 300s)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l bookmakers -d 'Number of simulated bookmakers (1 to 16)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l seed -d 'Seed of every random choice (callers\' picks, bookmakers\' latencies and errors)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l callers -d 'Concurrent caller threads (1 to 128)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l rate -d 'Base call rate of all callers together, per second (the spike is 50 times this)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l client-timeout -d 'Per-request timeout of the service\'s HTTP client' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l probe-after -d 'How long a tripped breaker stays open before its half-open probe, in this run (short so that probes happen within it; the services\' --reset-timeout is 60s)' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l allow-real-breakers -d 'Run even though the database holds breakers that are not simulated (`sim-*`): the simulated ones then sit, and page, beside the real ones'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand repl" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l out-dir -d 'Write every page (breakerctl.1, breakerctl-reset.1, ...) into this folder' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l db -d 'The breaker database' -r -F
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l color -d 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l busy-timeout -d 'How long to wait for another process\'s write lock' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l cooldown -d 'Reset cooldown the services use' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l failure-threshold -d 'Weighted failures that trip a breaker' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l reset-timeout -d 'How long an automatic trip lasts before a half-open probe' -r
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -l json -d 'Same as --output json'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -s h -l help -d 'Print help'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand man" -s V -l version -d 'Print version'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "status-all" -d 'Every breaker: state, failures, last error, latency, trips, last reset'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "status" -d 'One breaker in detail, with its latest audit rows'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "trip" -d 'Force a breaker open until someone resets it'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "reset" -d 'Close a breaker; refused inside the cooldown unless --force'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "audit" -d 'The audit trail, newest first'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "doctor" -d 'Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "init" -d 'Create the database and schema at --db (idempotent)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "metrics" -d 'Prometheus text exposition of every breaker, to stdout'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "serve" -d 'Serve /metrics and /healthz over HTTP (GET and HEAD)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "simulate" -d 'Run the market-probe service against simulated bookmakers on 127.0.0.1 and report what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "repl" -d 'Interactive console (the same commands, with completion and history)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "completions" -d 'Shell completion script, to stdout'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "man" -d 'Man pages (roff): breakerctl(1), or one command\'s page, to stdout; or every page to a folder for packaging'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and not __fish_seen_subcommand_from status-all status trip reset audit doctor init metrics serve simulate repl completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakerctl -n "__fish_breakerctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check the audit trail\'s hash chain; names the first broken row'
