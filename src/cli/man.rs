//! `breakerctl man`: one man page per command (breakerctl(1), breakerctl-reset(1), ...), with
//! the exit codes and the environment as proper roff sections.

use super::args::{ENVIRONMENT, EXIT_CODES};
use super::context::Invocation;
use super::exit::{CliError, ExitCode};
use super::output::escape;
use anyhow::{Context as _, Result};
use roff::{Roff, bold, roman};
use std::path::Path;

/// Prints the page of `path` (empty: breakerctl(1)), or writes every page into `out_dir`.
pub fn run(path: &[String], out_dir: Option<&Path>, inv: &mut Invocation<'_>) -> Result<ExitCode> {
    let root = grammar();
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", escape(&dir.display().to_string())))?;
        let mut written = Vec::new();
        for (cmd, is_root) in pages(&root) {
            let man = clap_mangen::Man::new(cmd.clone());
            let file = dir.join(man.get_filename());
            let mut page = Vec::new();
            render(&man, &cmd, is_root, &mut page)?;
            std::fs::write(&file, page)
                .with_context(|| format!("cannot write {}", escape(&file.display().to_string())))?;
            written.push(file);
        }
        for file in &written {
            writeln!(inv.out, "{}", escape(&file.display().to_string()))?;
        }
        return Ok(ExitCode::Ok);
    }
    let mut cmd = root.clone();
    for word in path {
        let Some(sub) = cmd.find_subcommand(word).cloned() else {
            let known: Vec<String> = cmd
                .get_subcommands()
                .map(|s| s.get_name().to_owned())
                .collect();
            let close = crate::breaker::closest_names(word, &known);
            let hint = if close.is_empty() {
                format!("pages exist for: {}", known.join(", "))
            } else {
                format!("did you mean {}?", close.join(", "))
            };
            return Err(
                CliError::usage(format!("no man page for {:?}", escape(&path.join(" "))))
                    .hint(hint)
                    .into(),
            );
        };
        cmd = sub;
    }
    let mut page = Vec::new();
    render(
        &clap_mangen::Man::new(cmd.clone()),
        &cmd,
        path.is_empty(),
        &mut page,
    )?;
    inv.out.write_all(&page)?;
    Ok(ExitCode::Ok)
}

/// The grammar, built so that subcommands carry their full names (`breakerctl-reset`).
fn grammar() -> clap::Command {
    let mut cmd = super::args::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every page: the root first, then each visible subcommand, depth first.
fn pages(root: &clap::Command) -> Vec<(clap::Command, bool)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(clap::Command, bool)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            out.push((sub.clone(), false));
            walk(sub, out);
        }
    }
    let mut out = vec![(root.clone(), true)];
    walk(root, &mut out);
    out
}

/// A page as clap_mangen renders it, except that the root page's EXTRA section (the `--help`
/// text's plain-text tables, which roff reflows into one paragraph) is replaced by EXIT STATUS
/// and ENVIRONMENT sections laid out as tagged paragraphs, and every page points to the others.
fn render(
    man: &clap_mangen::Man,
    cmd: &clap::Command,
    is_root: bool,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut page = Page(out);
    page.add(|w| man.render_title(w))?;
    page.add(|w| man.render_name_section(w))?;
    page.add(|w| man.render_synopsis_section(w))?;
    page.add(|w| man.render_description_section(w))?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        page.add(|w| man.render_options_section(w))?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        page.add(|w| man.render_subcommands_section(w))?;
    }
    if !is_root && (cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some()) {
        page.add(|w| man.render_extra_section(w))?;
    }
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(*meaning)]);
    }
    if is_root {
        roff.control("SH", ["ENVIRONMENT"]);
        for (name, meaning) in ENVIRONMENT {
            roff.control("TP", []);
            roff.text([bold(*name)]);
            roff.text([roman(*meaning)]);
        }
    }
    let page_name = |c: &clap::Command| {
        format!(
            "{}(1)",
            c.get_display_name().unwrap_or_else(|| c.get_name())
        )
    };
    let mut see_also: Vec<String> = if is_root {
        Vec::new()
    } else {
        vec!["breakerctl(1)".to_owned()]
    };
    see_also.extend(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(page_name),
    );
    if !see_also.is_empty() {
        roff.control("SH", ["SEE ALSO"]);
        roff.text([roman(see_also.join(", "))]);
    }
    page.add(|w| roff.to_writer(w))?;
    page.add(|w| man.render_version_section(w))
}

/// A page assembled from clap_mangen's sections, each of which starts with the same preamble:
/// it is kept once, at the top.
struct Page<'a>(&'a mut Vec<u8>);

impl Page<'_> {
    fn add(
        &mut self,
        piece: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
        let mut buf = Vec::new();
        piece(&mut buf)?;
        let body = if self.0.is_empty() {
            &buf[..]
        } else {
            buf.strip_prefix(PREAMBLE.as_bytes()).unwrap_or(&buf[..])
        };
        self.0.extend_from_slice(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--help` text and the man page list the same exit codes.
    #[test]
    fn help_and_man_page_agree_on_exit_codes() {
        let help = crate::cli::args::command().render_long_help().to_string();
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = flat(&help);
        for (code, meaning) in EXIT_CODES {
            assert!(
                help.contains(&flat(&format!("{code} {meaning}"))),
                "{code} {meaning}"
            );
        }
        for (name, meaning) in ENVIRONMENT {
            assert!(help.contains(&flat(&format!("{name} {meaning}"))), "{name}");
        }
    }
}
