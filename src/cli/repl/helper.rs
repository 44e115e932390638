//! The line editor's helper: Tab completion (commands, flags, values, bookmaker names read live
//! from the database), hints for the next argument, highlighting of unknown commands, and
//! continuation lines while a quote is open. Everything is derived from the clap grammar, so
//! the console always offers exactly what the command line accepts.

use super::super::complete::names_in;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::path::PathBuf;

/// Words the console understands itself, on top of the command grammar.
pub const REPL_WORDS: [&str; 3] = ["help", "exit", "quit"];

const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

pub struct ReplHelper {
    /// The grammar, built once (global flags propagated into every subcommand).
    grammar: clap::Command,
    /// Set while the console reads the rest of a line whose quote is still open: then there
    /// is nothing to complete or flag, and an empty line hints how to finish or cancel.
    pub continuing: Option<Continuation>,
    /// The session's database: where bookmaker names come from unless the line says `--db`.
    db: PathBuf,
    color: bool,
    files: FilenameCompleter,
}

impl ReplHelper {
    pub fn new(db: PathBuf, color: bool) -> ReplHelper {
        let mut grammar = super::super::args::command();
        grammar.build();
        ReplHelper {
            grammar,
            continuing: None,
            db,
            color,
            files: FilenameCompleter::new(),
        }
    }

    /// Every candidate for the word being typed at the end of `before` (the line up to the
    /// cursor), and where that word starts.
    fn candidates(&self, before: &str) -> (usize, Vec<Pair>, Place<'_>) {
        let lexed = lex(before);
        let (done, current) = lexed.split_current(before.len());
        let place = self.place(done);
        let prefix = current.text.as_str();
        let mut out: Vec<Pair> = Vec::new();
        let mut push = |word: &str, display: String| {
            if word.starts_with(prefix) {
                let mut replacement = shell_words::quote(word).into_owned();
                replacement.push(' ');
                out.push(Pair {
                    display,
                    replacement,
                });
            }
        };
        match &place.expecting {
            Some(arg) => {
                for v in arg.get_possible_values() {
                    if !v.is_hide_set() {
                        push(v.get_name(), v.get_name().to_owned());
                    }
                }
            }
            None if prefix.starts_with('-') => {
                for arg in place.command.get_arguments() {
                    if arg.is_hide_set() || arg.is_positional() {
                        continue;
                    }
                    if let Some(long) = arg.get_long() {
                        let flag = format!("--{long}");
                        push(&flag, flag.clone());
                    }
                }
            }
            None => {
                if place.is_root() {
                    for word in REPL_WORDS {
                        push(word, word.to_owned());
                    }
                }
                if place.positionals == 0 || place.is_root() {
                    for sub in place.command.get_subcommands() {
                        // `help` is offered once, as a console word.
                        if sub.is_hide_set() || sub.get_name() == "help" {
                            continue;
                        }
                        push(sub.get_name(), sub.get_name().to_owned());
                        for alias in sub.get_visible_aliases() {
                            push(alias, alias.to_owned());
                        }
                    }
                }
                if let Some(arg) = place.next_positional() {
                    if is_bookmaker_arg(arg) {
                        let db = place.db.clone().unwrap_or_else(|| self.db.clone());
                        for name in names_in(&db) {
                            // Shown raw in the list and as a hint: no control, bidi or
                            // zero-width characters.
                            if super::super::output::is_printable(&name) {
                                push(&name, name.clone());
                            }
                        }
                    } else {
                        for v in arg.get_possible_values() {
                            if !v.is_hide_set() {
                                push(v.get_name(), v.get_name().to_owned());
                            }
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out.dedup_by(|a, b| a.display == b.display);
        (current.start, out, place)
    }

    /// Where the words typed so far leave us in the grammar.
    fn place<'g>(&'g self, words: &[Word]) -> Place<'g> {
        let mut place = Place {
            root: &self.grammar,
            command: &self.grammar,
            expecting: None,
            positionals: 0,
            db: None,
        };
        for w in words {
            let text = w.text.as_str();
            if let Some(arg) = place.expecting.take() {
                if arg.get_id() == "db" {
                    place.db = Some(PathBuf::from(text));
                }
                continue;
            }
            if let Some(long) = text.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                let arg = place
                    .command
                    .get_arguments()
                    .find(|a| a.get_long() == Some(name));
                if let Some(arg) = arg {
                    match value {
                        Some(v) if arg.get_id() == "db" => place.db = Some(PathBuf::from(v)),
                        None if takes_value(arg) => place.expecting = Some(arg),
                        _ => {}
                    }
                }
                continue;
            }
            if text.starts_with('-') && text.len() > 1 {
                continue; // -h, -V
            }
            let sub = (place.positionals == 0)
                .then(|| place.command.find_subcommand(text))
                .flatten();
            match sub {
                Some(sub) => {
                    place.command = sub;
                    place.positionals = 0;
                }
                None => place.positionals += 1,
            }
        }
        place
    }

    /// The span of the command word when it names nothing the console knows.
    fn unknown_command_span(&self, line: &str) -> Option<(usize, usize)> {
        let lexed = lex(line);
        let mut skip_value = false;
        for w in &lexed.words {
            if std::mem::take(&mut skip_value) {
                continue;
            }
            if let Some(long) = w.text.strip_prefix("--") {
                skip_value = !long.contains('=')
                    && self
                        .grammar
                        .get_arguments()
                        .any(|a| a.get_long() == Some(long) && takes_value(a));
                continue;
            }
            if w.text.starts_with('-') {
                continue;
            }
            if REPL_WORDS.contains(&w.text.as_str())
                || self.grammar.find_subcommand(&w.text).is_some()
            {
                return None;
            }
            // A word still being typed is only wrong once no command starts with it.
            let finished = w.end < line.len() || lexed.open_quote.is_some();
            let could_be = self
                .grammar
                .get_subcommands()
                .flat_map(|s| std::iter::once(s.get_name()).chain(s.get_all_aliases()))
                .chain(REPL_WORDS)
                .any(|n| n.starts_with(w.text.as_str()));
            return (finished || !could_be).then_some((w.start, w.end));
        }
        None
    }
}

/// A point in the grammar: the (sub)command, a flag waiting for its value, positionals given.
struct Place<'g> {
    root: &'g clap::Command,
    command: &'g clap::Command,
    expecting: Option<&'g clap::Arg>,
    positionals: usize,
    db: Option<PathBuf>,
}

impl<'g> Place<'g> {
    fn is_root(&self) -> bool {
        std::ptr::eq(self.root, self.command)
    }

    fn next_positional(&self) -> Option<&'g clap::Arg> {
        if self.is_root() {
            return None;
        }
        self.command
            .get_positionals()
            .nth(self.positionals)
            .filter(|a| !a.is_hide_set())
    }

    /// What still has to come, as a usage fragment: `<NAME> --reason <TEXT>`.
    fn next_usage(&self, typed: &[Word]) -> Option<String> {
        if let Some(arg) = self.expecting {
            return Some(format!("<{}>", value_name(arg)));
        }
        if self.is_root() {
            return None;
        }
        let mut parts = Vec::new();
        for arg in self.command.get_positionals().skip(self.positionals) {
            if arg.is_hide_set() {
                continue;
            }
            let name = value_name(arg);
            parts.push(if arg.is_required_set() {
                format!("<{name}>")
            } else {
                format!("[{name}]")
            });
        }
        for arg in self.command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !arg.is_required_set() || arg.is_positional() {
                continue;
            }
            let flag = format!("--{long}");
            let given = typed
                .iter()
                .any(|w| w.text == flag || w.text.starts_with(&format!("{flag}=")));
            if !given {
                parts.push(format!("{flag} <{}>", value_name(arg)));
            }
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// The word of a line that names the command: the first that is neither a flag nor the value
/// of a global flag (`--db x.db status-all` -> `status-all`).
pub fn command_word<'w>(
    grammar: &clap::Command,
    words: impl IntoIterator<Item = &'w str>,
) -> Option<&'w str> {
    let mut skip_value = false;
    for w in words {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            skip_value = !long.contains('=')
                && grammar
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) && takes_value(a));
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            continue;
        }
        return Some(w);
    }
    None
}

fn takes_value(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values()
}

fn value_name(arg: &clap::Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map(|s| s.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase())
}

/// Positional arguments that name a breaker (they carry the `NAME` value name in the grammar).
fn is_bookmaker_arg(arg: &clap::Arg) -> bool {
    arg.get_value_names()
        .is_some_and(|names| names.iter().any(|n| n.as_str() == "NAME"))
}

/// One word of a line, unquoted, with its byte span in the line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Word {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// A line split the way `shell_words::split` splits it, keeping where each word lies.
#[derive(Debug, Default)]
pub struct Lexed {
    pub words: Vec<Word>,
    /// The quote still open at the end of the line, if any.
    pub open_quote: Option<char>,
}

impl Lexed {
    /// The finished words, and the word under construction at `end` (empty when the line ends
    /// with a delimiter).
    fn split_current(&self, end: usize) -> (&[Word], Word) {
        match self.words.last() {
            Some(last) if last.end == end => (&self.words[..self.words.len() - 1], last.clone()),
            _ => (
                &self.words[..],
                Word {
                    text: String::new(),
                    start: end,
                    end,
                },
            ),
        }
    }
}

/// Splits like a POSIX shell: spaces separate, quotes group, backslash escapes.
pub fn lex(line: &str) -> Lexed {
    #[derive(PartialEq)]
    enum Q {
        None,
        Single,
        Double,
    }
    let mut lexed = Lexed::default();
    let mut word: Option<Word> = None;
    let mut quote = Q::None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Q::Single => {
                if c == '\'' {
                    quote = Q::None;
                } else if let Some(w) = word.as_mut() {
                    w.text.push(c);
                }
            }
            Q::Double => match c {
                '"' => quote = Q::None,
                '\\' => match chars.peek().copied() {
                    Some((_, n @ ('$' | '`' | '"' | '\\'))) => {
                        chars.next();
                        if let Some(w) = word.as_mut() {
                            w.text.push(n);
                        }
                    }
                    Some((_, '\n')) => {
                        chars.next();
                    }
                    _ => {
                        if let Some(w) = word.as_mut() {
                            w.text.push('\\');
                        }
                    }
                },
                c => {
                    if let Some(w) = word.as_mut() {
                        w.text.push(c);
                    }
                }
            },
            Q::None => {
                if c == ' ' || c == '\t' || c == '\n' {
                    if let Some(w) = word.take() {
                        lexed.words.push(w);
                    }
                    continue;
                }
                let w = word.get_or_insert_with(|| Word {
                    text: String::new(),
                    start: i,
                    end: i,
                });
                match c {
                    '\'' => quote = Q::Single,
                    '"' => quote = Q::Double,
                    '\\' => match chars.next() {
                        Some((_, '\n')) => {}
                        Some((_, n)) => w.text.push(n),
                        None => w.text.push('\\'),
                    },
                    c => w.text.push(c),
                }
            }
        }
        if let Some(w) = word.as_mut() {
            w.end = chars.peek().map_or(line.len(), |(j, _)| *j);
        }
    }
    if let Some(w) = word.take() {
        lexed.words.push(w);
    }
    lexed.open_quote = match quote {
        Q::None => None,
        Q::Single => Some('\''),
        Q::Double => Some('"'),
    };
    lexed
}

/// A hint: shown dimmed after the cursor; → accepts `completion` when there is one.
pub struct ArgHint {
    display: String,
    completion: Option<String>,
}

impl Hint for ArgHint {
    fn display(&self) -> &str {
        &self.display
    }

    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if self.continuing.is_some() {
            return Ok((pos, Vec::new()));
        }
        let before = &line[..pos];
        let (start, candidates, place) = self.candidates(before);
        if let Some(arg) = place.expecting
            && arg.get_id() == "db"
        {
            return self.files.complete(line, pos, ctx);
        }
        Ok((start, candidates))
    }
}

impl Hinter for ReplHelper {
    type Hint = ArgHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ArgHint> {
        if let Some(c) = &self.continuing {
            return line.is_empty().then(|| ArgHint {
                display: c.hint(),
                completion: None,
            });
        }
        if pos < line.len() || line.trim().is_empty() {
            return None;
        }
        let lexed = lex(line);
        if lexed.open_quote.is_some() {
            return None;
        }
        let (done, current) = lexed.split_current(line.len());
        if current.text.is_empty() {
            let place = self.place(done);
            let usage = place.next_usage(done)?;
            return Some(ArgHint {
                display: usage,
                completion: None,
            });
        }
        // The rest of the one word that fits, if only one does; → accepts it.
        let (_, candidates, _) = self.candidates(line);
        let typed = &line[current.start..];
        let [only] = candidates.as_slice() else {
            return None;
        };
        let rest = only.replacement.strip_prefix(typed)?.trim_end();
        (!rest.is_empty()).then(|| ArgHint {
            display: rest.to_owned(),
            completion: Some(rest.to_owned()),
        })
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color || self.continuing.is_some() {
            return Cow::Borrowed(line);
        }
        match self.unknown_command_span(line) {
            Some((start, end)) => Cow::Owned(format!(
                "{}{RED}{}{RESET}{}",
                &line[..start],
                &line[start..end],
                &line[end..]
            )),
            None => Cow::Borrowed(line),
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("{DIM}{hint}{RESET}"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.color && kind != CmdKind::MoveCursor
    }
}

/// Enter always hands the line to the console: a line whose quote is still open is continued
/// there, on a prompt of its own (`... `), rather than inside the editor, where the next line
/// would start with no prompt at all.
impl Validator for ReplHelper {
    fn validate(&self, _ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(ValidationResult::Valid(None))
    }
}

/// What keeps a line open: a quote, or a trailing backslash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    pub quote: Option<char>,
}

impl Continuation {
    /// Whether `text` (the line so far) still needs more, and why.
    pub fn of(text: &str) -> Option<Continuation> {
        shell_words::split(text).is_err().then(|| Continuation {
            quote: lex(text).open_quote,
        })
    }

    /// What the console says on the continuation prompt.
    pub fn hint(&self) -> String {
        match self.quote {
            Some(q) => format!("the {q} quote is open: end it with {q}; Ctrl-C cancels"),
            None => "the line is not finished; Ctrl-C cancels".to_owned(),
        }
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        lex(line).words.into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn lexes_like_shell_words() {
        for line in [
            "trip pinnacle --reason 'planned work'",
            r#"reset "bet 365" --reason "a \"quoted\" word" --force"#,
            r"status a\ b  ",
            "status-all --watch=2s",
        ] {
            assert_eq!(texts(line), shell_words::split(line).unwrap(), "{line}");
        }
        let l = lex("status  'pin");
        assert_eq!(l.open_quote, Some('\''));
        assert_eq!(l.words[1].start, 8);
        assert_eq!(l.words[1].text, "pin");
    }

    fn complete(h: &ReplHelper, line: &str) -> Vec<String> {
        h.candidates(line)
            .1
            .into_iter()
            .map(|p| p.replacement)
            .collect()
    }

    #[test]
    fn completes_from_the_grammar() {
        let h = ReplHelper::new(PathBuf::from("/nonexistent/cb.db"), false);
        assert_eq!(complete(&h, "tr"), ["trip "]);
        assert_eq!(complete(&h, "status"), ["status ", "status-all "]);
        assert_eq!(complete(&h, "e"), ["exit "]);
        assert!(complete(&h, "reset x --f").contains(&"--force ".to_owned()));
        assert_eq!(complete(&h, "trip x --h"), ["--help "]);
        assert!(complete(&h, "reset x --").contains(&"--cooldown ".to_owned()));
        assert_eq!(complete(&h, "--output j"), ["json "]);
        assert_eq!(
            complete(&h, "status-all --color "),
            ["always ", "auto ", "never "]
        );
        assert_eq!(complete(&h, "completions z"), ["zsh "]);
        assert_eq!(complete(&h, "audit v"), ["verify "]);
    }

    #[test]
    fn hints_the_next_argument() {
        let h = ReplHelper::new(PathBuf::from("/nonexistent/cb.db"), false);
        let hist = rustyline::history::MemHistory::new();
        let ctx = Context::new(&hist);
        let hint = |line: &str| h.hint(line, line.len(), &ctx).map(|x| x.display);
        assert_eq!(hint("trip ").as_deref(), Some("<NAME> --reason <TEXT>"));
        assert_eq!(hint("trip pinnacle ").as_deref(), Some("--reason <TEXT>"));
        assert_eq!(hint("trip pinnacle --reason ").as_deref(), Some("<TEXT>"));
        assert_eq!(hint("status-all --wat").as_deref(), Some("ch"));
        assert_eq!(hint("status-all "), None);
    }

    /// Names come from the database: one with bidi, zero-width or control characters is
    /// neither listed nor hinted (both reach the terminal raw).
    #[test]
    fn completes_only_printable_names_from_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("cb.db");
        let cb = crate::ProductionCircuitBreaker::open(&db, crate::BreakerConfig::default())
            .expect("open");
        for name in ["pinnacle", "pi\u{202e}nnacle", "pi\u{200b}x", "pi\x1b[2J"] {
            cb.record_failure(name, "boom").expect("failure");
        }
        drop(cb);
        let h = ReplHelper::new(db, false);
        assert_eq!(complete(&h, "status pi"), ["pinnacle "]);
        let hist = rustyline::history::MemHistory::new();
        let ctx = Context::new(&hist);
        let hint = h.hint("status pi", 9, &ctx).map(|x| x.display);
        assert_eq!(hint.as_deref(), Some("nnacle"));
    }

    #[test]
    fn flags_unknown_commands() {
        let h = ReplHelper::new(PathBuf::from("/nonexistent/cb.db"), true);
        assert_eq!(h.unknown_command_span("stat"), None);
        assert_eq!(h.unknown_command_span("--json stauts x"), Some((7, 13)));
        assert_eq!(h.unknown_command_span("xyz"), Some((0, 3)));
        assert_eq!(h.unknown_command_span("--db x.db status-all"), None);
        assert!(h.highlight("bogus", 5).contains(RED));
    }
}
