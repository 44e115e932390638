
use builtin;
use str;

set edit:completion:arg-completer[breakerctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'breakerctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'breakerctl'= {
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status-all 'Every breaker: state, failures, last error, latency, trips, last reset'
            cand ls 'Every breaker: state, failures, last error, latency, trips, last reset'
            cand status 'One breaker in detail, with its latest audit rows'
            cand trip 'Force a breaker open until someone resets it'
            cand reset 'Close a breaker; refused inside the cooldown unless --force'
            cand audit 'The audit trail, newest first'
            cand doctor 'Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)'
            cand init 'Create the database and schema at --db (idempotent)'
            cand metrics 'Prometheus text exposition of every breaker, to stdout'
            cand serve 'Serve /metrics and /healthz over HTTP (GET and HEAD)'
            cand simulate 'Run the market-probe service against simulated bookmakers on 127.0.0.1 and report what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing'
            cand repl 'Interactive console (the same commands, with completion and history)'
            cand completions 'Shell completion script, to stdout'
            cand man 'Man pages (roff): breakerctl(1), or one command''s page, to stdout; or every page to a folder for packaging'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakerctl;status-all'= {
            cand --watch 'Redraw every INTERVAL until Ctrl-C'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --tripped 'Only tripped breakers'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;ls'= {
            cand --watch 'Redraw every INTERVAL until Ctrl-C'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --tripped 'Only tripped breakers'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;status'= {
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;trip'= {
            cand --reason 'Why (recorded in the audit trail)'
            cand --user 'Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is recorded beside it'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --create 'Allow a name the database has never seen (a typo guard)'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;reset'= {
            cand --reason 'Why (required with --force)'
            cand --user 'Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is recorded beside it'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --force 'Override the cooldown (needs --reason)'
            cand --dry-run 'Only say whether the reset would be allowed; write nothing'
            cand --yes 'In the REPL, skip typing the name to confirm a forced reset'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;audit'= {
            cand --bookmaker 'Only this breaker, by option (for a breaker named like a subcommand: `--bookmaker verify`)'
            cand --since 'Only rows since a duration ago (1h, 30m) or an RFC 3339 time'
            cand --action 'Only this action (TRIP, RESET, RESET_DENIED, PROBE_START, CLOSE, REOPEN)'
            cand --user 'Only this user'
            cand --limit 'At most N rows'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand verify 'Check the audit trail''s hash chain; names the first broken row'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakerctl;audit;verify'= {
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;audit;help'= {
            cand verify 'Check the audit trail''s hash chain; names the first broken row'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakerctl;audit;help;verify'= {
        }
        &'breakerctl;audit;help;help'= {
        }
        &'breakerctl;doctor'= {
            cand --alert-window 'Report breakers tripped for longer than this (the CircuitBreakerTripped alert''s `for`)'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;init'= {
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;metrics'= {
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;serve'= {
            cand --listen 'Address to listen on, HOST:PORT; loopback unless told otherwise'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;simulate'= {
            cand --scenario 'steady: all healthy; outage: one bookmaker fails hard mid-run; spike: 50x traffic while one bookmaker slows into timeouts and the host load passes the shedding threshold'
            cand --duration 'How long the callers run (1s to 300s)'
            cand --bookmakers 'Number of simulated bookmakers (1 to 16)'
            cand --seed 'Seed of every random choice (callers'' picks, bookmakers'' latencies and errors)'
            cand --callers 'Concurrent caller threads (1 to 128)'
            cand --rate 'Base call rate of all callers together, per second (the spike is 50 times this)'
            cand --client-timeout 'Per-request timeout of the service''s HTTP client'
            cand --probe-after 'How long a tripped breaker stays open before its half-open probe, in this run (short so that probes happen within it; the services'' --reset-timeout is 60s)'
            cand --cooldown 'Reset cooldown the services use'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --allow-real-breakers 'Run even though the database holds breakers that are not simulated (`sim-*`): the simulated ones then sit, and page, beside the real ones'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;repl'= {
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;completions'= {
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;man'= {
            cand --out-dir 'Write every page (breakerctl.1, breakerctl-reset.1, ...) into this folder'
            cand --db 'The breaker database'
            cand --output 'Output format'
            cand --color 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)'
            cand --busy-timeout 'How long to wait for another process''s write lock'
            cand --cooldown 'Reset cooldown the services use'
            cand --failure-threshold 'Weighted failures that trip a breaker'
            cand --reset-timeout 'How long an automatic trip lasts before a half-open probe'
            cand --json 'Same as --output json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'breakerctl;help'= {
            cand status-all 'Every breaker: state, failures, last error, latency, trips, last reset'
            cand status 'One breaker in detail, with its latest audit rows'
            cand trip 'Force a breaker open until someone resets it'
            cand reset 'Close a breaker; refused inside the cooldown unless --force'
            cand audit 'The audit trail, newest first'
            cand doctor 'Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)'
            cand init 'Create the database and schema at --db (idempotent)'
            cand metrics 'Prometheus text exposition of every breaker, to stdout'
            cand serve 'Serve /metrics and /healthz over HTTP (GET and HEAD)'
            cand simulate 'Run the market-probe service against simulated bookmakers on 127.0.0.1 and report what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing'
            cand repl 'Interactive console (the same commands, with completion and history)'
            cand completions 'Shell completion script, to stdout'
            cand man 'Man pages (roff): breakerctl(1), or one command''s page, to stdout; or every page to a folder for packaging'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakerctl;help;status-all'= {
        }
        &'breakerctl;help;status'= {
        }
        &'breakerctl;help;trip'= {
        }
        &'breakerctl;help;reset'= {
        }
        &'breakerctl;help;audit'= {
            cand verify 'Check the audit trail''s hash chain; names the first broken row'
        }
        &'breakerctl;help;audit;verify'= {
        }
        &'breakerctl;help;doctor'= {
        }
        &'breakerctl;help;init'= {
        }
        &'breakerctl;help;metrics'= {
        }
        &'breakerctl;help;serve'= {
        }
        &'breakerctl;help;simulate'= {
        }
        &'breakerctl;help;repl'= {
        }
        &'breakerctl;help;completions'= {
        }
        &'breakerctl;help;man'= {
        }
        &'breakerctl;help;help'= {
        }
    ]
    $completions[$command]
}
