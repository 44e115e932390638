
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'breakerctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'breakerctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'breakerctl' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('status-all', 'status-all', [CompletionResultType]::ParameterValue, 'Every breaker: state, failures, last error, latency, trips, last reset')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'Every breaker: state, failures, last error, latency, trips, last reset')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'One breaker in detail, with its latest audit rows')
            [CompletionResult]::new('trip', 'trip', [CompletionResultType]::ParameterValue, 'Force a breaker open until someone resets it')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Close a breaker; refused inside the cooldown unless --force')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'The audit trail, newest first')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create the database and schema at --db (idempotent)')
            [CompletionResult]::new('metrics', 'metrics', [CompletionResultType]::ParameterValue, 'Prometheus text exposition of every breaker, to stdout')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve /metrics and /healthz over HTTP (GET and HEAD)')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Run the market-probe service against simulated bookmakers on 127.0.0.1 and report what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing')
            [CompletionResult]::new('repl', 'repl', [CompletionResultType]::ParameterValue, 'Interactive console (the same commands, with completion and history)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Shell completion script, to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Man pages (roff): breakerctl(1), or one command''s page, to stdout; or every page to a folder for packaging')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakerctl;status-all' {
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Redraw every INTERVAL until Ctrl-C')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--tripped', '--tripped', [CompletionResultType]::ParameterName, 'Only tripped breakers')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;ls' {
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Redraw every INTERVAL until Ctrl-C')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--tripped', '--tripped', [CompletionResultType]::ParameterName, 'Only tripped breakers')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;status' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;trip' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why (recorded in the audit trail)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is recorded beside it')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--create', '--create', [CompletionResultType]::ParameterName, 'Allow a name the database has never seen (a typo guard)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;reset' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why (required with --force)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is recorded beside it')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Override the cooldown (needs --reason)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Only say whether the reset would be allowed; write nothing')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'In the REPL, skip typing the name to confirm a forced reset')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;audit' {
            [CompletionResult]::new('--bookmaker', '--bookmaker', [CompletionResultType]::ParameterName, 'Only this breaker, by option (for a breaker named like a subcommand: `--bookmaker verify`)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only rows since a duration ago (1h, 30m) or an RFC 3339 time')
            [CompletionResult]::new('--action', '--action', [CompletionResultType]::ParameterName, 'Only this action (TRIP, RESET, RESET_DENIED, PROBE_START, CLOSE, REOPEN)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only this user')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N rows')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the audit trail''s hash chain; names the first broken row')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakerctl;audit;verify' {
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;audit;help' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the audit trail''s hash chain; names the first broken row')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakerctl;audit;help;verify' {
            break
        }
        'breakerctl;audit;help;help' {
            break
        }
        'breakerctl;doctor' {
            [CompletionResult]::new('--alert-window', '--alert-window', [CompletionResultType]::ParameterName, 'Report breakers tripped for longer than this (the CircuitBreakerTripped alert''s `for`)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;init' {
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;metrics' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on, HOST:PORT; loopback unless told otherwise')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;simulate' {
            [CompletionResult]::new('--scenario', '--scenario', [CompletionResultType]::ParameterName, 'steady: all healthy; outage: one bookmaker fails hard mid-run; spike: 50x traffic while one bookmaker slows into timeouts and the host load passes the shedding threshold')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long the callers run (1s to 300s)')
            [CompletionResult]::new('--bookmakers', '--bookmakers', [CompletionResultType]::ParameterName, 'Number of simulated bookmakers (1 to 16)')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed of every random choice (callers'' picks, bookmakers'' latencies and errors)')
            [CompletionResult]::new('--callers', '--callers', [CompletionResultType]::ParameterName, 'Concurrent caller threads (1 to 128)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Base call rate of all callers together, per second (the spike is 50 times this)')
            [CompletionResult]::new('--client-timeout', '--client-timeout', [CompletionResultType]::ParameterName, 'Per-request timeout of the service''s HTTP client')
            [CompletionResult]::new('--probe-after', '--probe-after', [CompletionResultType]::ParameterName, 'How long a tripped breaker stays open before its half-open probe, in this run (short so that probes happen within it; the services'' --reset-timeout is 60s)')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--allow-real-breakers', '--allow-real-breakers', [CompletionResultType]::ParameterName, 'Run even though the database holds breakers that are not simulated (`sim-*`): the simulated ones then sit, and page, beside the real ones')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;repl' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;completions' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;man' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write every page (breakerctl.1, breakerctl-reset.1, ...) into this folder')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The breaker database')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output (auto: only on a terminal, and not when NO_COLOR is set)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for another process''s write lock')
            [CompletionResult]::new('--cooldown', '--cooldown', [CompletionResultType]::ParameterName, 'Reset cooldown the services use')
            [CompletionResult]::new('--failure-threshold', '--failure-threshold', [CompletionResultType]::ParameterName, 'Weighted failures that trip a breaker')
            [CompletionResult]::new('--reset-timeout', '--reset-timeout', [CompletionResultType]::ParameterName, 'How long an automatic trip lasts before a half-open probe')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --output json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'breakerctl;help' {
            [CompletionResult]::new('status-all', 'status-all', [CompletionResultType]::ParameterValue, 'Every breaker: state, failures, last error, latency, trips, last reset')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'One breaker in detail, with its latest audit rows')
            [CompletionResult]::new('trip', 'trip', [CompletionResultType]::ParameterValue, 'Force a breaker open until someone resets it')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Close a breaker; refused inside the cooldown unless --force')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'The audit trail, newest first')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create the database and schema at --db (idempotent)')
            [CompletionResult]::new('metrics', 'metrics', [CompletionResultType]::ParameterValue, 'Prometheus text exposition of every breaker, to stdout')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve /metrics and /healthz over HTTP (GET and HEAD)')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Run the market-probe service against simulated bookmakers on 127.0.0.1 and report what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing')
            [CompletionResult]::new('repl', 'repl', [CompletionResultType]::ParameterValue, 'Interactive console (the same commands, with completion and history)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Shell completion script, to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Man pages (roff): breakerctl(1), or one command''s page, to stdout; or every page to a folder for packaging')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakerctl;help;status-all' {
            break
        }
        'breakerctl;help;status' {
            break
        }
        'breakerctl;help;trip' {
            break
        }
        'breakerctl;help;reset' {
            break
        }
        'breakerctl;help;audit' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the audit trail''s hash chain; names the first broken row')
            break
        }
        'breakerctl;help;audit;verify' {
            break
        }
        'breakerctl;help;doctor' {
            break
        }
        'breakerctl;help;init' {
            break
        }
        'breakerctl;help;metrics' {
            break
        }
        'breakerctl;help;serve' {
            break
        }
        'breakerctl;help;simulate' {
            break
        }
        'breakerctl;help;repl' {
            break
        }
        'breakerctl;help;completions' {
            break
        }
        'breakerctl;help;man' {
            break
        }
        'breakerctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
