//! Tables that fit the screen without breaking a word (the layout of `kubectl get` and
//! `gh pr list`): every cell is on one line; names, states, times and numbers are shown
//! whole; free text (an error, a reason) is the column that shrinks, cut with `…`. When even
//! the free text at its narrowest leaves the table too wide, whole columns are hidden, least
//! useful first. Only a value that alone is wider than the screen makes a line longer.
//!
//! When no width is known (a pipe, without `COLUMNS`) nothing is fitted: every column is
//! shown, free text is cut at a fixed length as it always was, and the columns stay aligned
//! for `grep` and `awk`. No line ends in spaces.

use super::text::escape;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Between two columns.
const GAP: &str = "  ";
/// Before the first column.
const MARGIN: &str = " ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// The few colors tables use (foreground).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Green,
    Red,
    Yellow,
    Magenta,
}

impl Paint {
    fn sgr(self) -> &'static str {
        match self {
            Paint::Red => "\x1b[31m",
            Paint::Green => "\x1b[32m",
            Paint::Yellow => "\x1b[33m",
            Paint::Magenta => "\x1b[35m",
        }
    }
}

/// One column: its header, and how it gives way when the table is too wide.
#[derive(Debug, Clone)]
pub struct Column {
    header: &'static str,
    align: Align,
    /// Free text: cut with `…` to fit, down to `min` characters (and never into a cell's
    /// `keep` prefix). Other columns are never cut.
    free: Option<Free>,
    /// Hidden when the table does not fit otherwise; lower ranks give way first.
    hide: Option<u8>,
    /// Shown in its cells' short forms when the table does not fit otherwise (ranked with
    /// `hide`).
    compact: Option<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Free {
    min: usize,
    /// Keeps at least 1/share of the screen's width before other columns give way.
    share: Option<usize>,
    /// The length free text is cut at when no width is known (off a terminal).
    cap: Option<usize>,
}

impl Column {
    /// A column shown whole: names, states, times, numbers.
    pub fn whole(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
            free: None,
            hide: None,
            compact: None,
        }
    }

    /// Free text: shrinks to fit, down to `min` characters, cut with `…`; cut at `cap`
    /// characters when no width is known.
    pub fn free(header: &'static str, min: usize, cap: Option<usize>) -> Column {
        Column {
            free: Some(Free {
                min,
                share: None,
                cap,
            }),
            ..Column::whole(header)
        }
    }

    /// Free text that keeps at least 1/`n` of the screen's width (or its minimum, if more)
    /// before other columns are hidden or compacted.
    pub fn share(mut self, n: usize) -> Column {
        if let Some(free) = self.free.as_mut() {
            free.share = Some(n.max(1));
        }
        self
    }

    pub fn right(mut self) -> Column {
        self.align = Align::Right;
        self
    }

    /// Hidden when the table cannot fit otherwise; rank 1 goes first.
    pub fn hide(mut self, rank: u8) -> Column {
        self.hide = Some(rank);
        self
    }

    /// Its cells' short forms (`Cell::with_short`) when the table cannot fit otherwise;
    /// ranked with `hide`.
    pub fn compact(mut self, rank: u8) -> Column {
        self.compact = Some(rank);
        self
    }
}

/// One cell. Its text is escaped on the way in, so nothing in a table can reach a terminal
/// raw (escaping escaped text changes nothing).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    text: String,
    /// Display width of the start of the text that is never cut (in a free column).
    keep: usize,
    /// What the cell shows when its column is compact.
    short: Option<String>,
    paint: Option<Paint>,
}

impl Cell {
    pub fn new(text: impl AsRef<str>) -> Cell {
        Cell {
            text: escape(text.as_ref()).into_owned(),
            ..Cell::default()
        }
    }

    /// A cell with a shorter form for when its column is compact (`Column::compact`).
    pub fn with_short(text: impl AsRef<str>, short: impl AsRef<str>) -> Cell {
        Cell {
            short: Some(escape(short.as_ref()).into_owned()),
            ..Cell::new(text)
        }
    }

    fn shown(&self, short: bool) -> &str {
        match (&self.short, short) {
            (Some(s), true) => s,
            _ => &self.text,
        }
    }

    /// A cell of a free column whose first `prefix` (a time, a name) is never cut: the text
    /// is `prefix` followed by `rest`.
    pub fn keeping(prefix: &str, rest: &str) -> Cell {
        let prefix = escape(prefix);
        let mut cell = Cell::new(format!("{prefix}{rest}"));
        cell.keep = prefix.width();
        cell
    }

    /// Colored when the table is rendered with color.
    pub fn paint(mut self, paint: Paint) -> Cell {
        self.paint = Some(paint);
        self
    }

    fn width(&self) -> usize {
        self.text.width()
    }
}

/// How a table is drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    /// The screen's width, when known: the table fits it.
    pub width: Option<usize>,
    /// Rules above, below and under the header (on a terminal); none for pipes.
    pub ruled: bool,
    pub color: bool,
}

#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra cells are ignored.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// The table as text, lines joined by newlines, without a final newline.
    pub fn render(&self, layout: &Layout) -> String {
        self.lines(layout).join("\n")
    }

    /// The table's lines: with rules, [top, header, rule, rows..., bottom]; else
    /// [header, rows...].
    pub fn lines(&self, layout: &Layout) -> Vec<String> {
        let plan = self.plan(layout.width);
        let total = line_width(plan.iter().flatten().map(|&(w, _)| w));
        let header: Vec<Cell> = self.columns.iter().map(|c| Cell::new(c.header)).collect();
        let mut lines = Vec::with_capacity(self.rows.len() + 4);
        let rule = "─".repeat(total);
        if layout.ruled {
            lines.push(rule.clone());
        }
        lines.push(self.line(&header, &plan, false));
        if layout.ruled {
            lines.push(rule.clone());
        }
        for row in &self.rows {
            lines.push(self.line(row, &plan, layout.color));
        }
        if layout.ruled {
            lines.push(rule);
        }
        lines
    }

    fn line(&self, row: &[Cell], plan: &[Option<(usize, bool)>], color: bool) -> String {
        let empty = Cell::default();
        let mut out = String::from(MARGIN);
        let shown = plan
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|(w, short)| (i, w, short)));
        for (n, (i, width, short)) in shown.enumerate() {
            if n > 0 {
                out.push_str(GAP);
            }
            let cell = row.get(i).unwrap_or(&empty);
            let text = fit(cell.shown(short), width);
            let pad = " ".repeat(width.saturating_sub(text.width()));
            let painted = match cell.paint {
                Some(p) if color && !text.is_empty() => format!("{}{text}\x1b[39m", p.sgr()),
                _ => text,
            };
            match self.columns[i].align {
                Align::Left => {
                    out.push_str(&painted);
                    out.push_str(&pad);
                }
                Align::Right => {
                    out.push_str(&pad);
                    out.push_str(&painted);
                }
            }
        }
        out.truncate(out.trim_end().len());
        out
    }

    /// How every column is shown: its width (`None`: hidden) and whether in its short form.
    fn plan(&self, width: Option<usize>) -> Vec<Option<(usize, bool)>> {
        let n = self.columns.len();
        let Some(limit) = width else {
            return (0..n)
                .map(|i| Some((self.natural(i, false, true), false)))
                .collect();
        };
        // The order in which columns give way: a column that may be hidden and has nothing
        // to show ("" or "-" in every row) first, then by rank.
        let mut steps: Vec<(u8, usize, Shape)> = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            if let Some(rank) = c.hide {
                let blank = self
                    .rows
                    .iter()
                    .all(|r| r.get(i).is_none_or(|c| matches!(c.text.as_str(), "" | "-")));
                steps.push((if blank { 0 } else { rank }, i, Shape::Hidden));
            }
            if let Some(rank) = c.compact {
                steps.push((rank, i, Shape::Short));
            }
        }
        steps.sort();
        let mut shapes = vec![Shape::Full; n];
        let mut steps = steps.into_iter();
        loop {
            let natural = self.naturals(&shapes);
            let floors: Vec<usize> = (0..n)
                .map(|i| self.floor(i, natural[i], Some(limit)))
                .collect();
            if let Some(widths) = shrink(&natural, &floors, limit) {
                return widths;
            }
            match steps.next() {
                Some((_, i, shape)) if shapes[i] != Shape::Hidden => shapes[i] = shape,
                Some(_) => {}
                None => {
                    // Nothing left to give way but the free text below its usual minimum:
                    // down to its header (or a kept prefix); past that, the line is as long
                    // as the whole values in it make it.
                    let floors: Vec<usize> =
                        (0..n).map(|i| self.floor(i, natural[i], None)).collect();
                    let fitted = shrink(&natural, &floors, limit);
                    return fitted.unwrap_or_else(|| {
                        (0..n)
                            .map(|i| natural[i].map(|_| (floors[i], shapes[i] == Shape::Short)))
                            .collect()
                    });
                }
            }
        }
    }

    /// Natural widths for these shapes, with whether the column is in its short form; `None`
    /// for hidden columns.
    fn naturals(&self, shapes: &[Shape]) -> Vec<Option<(usize, bool)>> {
        shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| match shape {
                Shape::Hidden => None,
                Shape::Full => Some((self.natural(i, false, false), false)),
                Shape::Short => Some((self.natural(i, true, false), true)),
            })
            .collect()
    }

    /// The width a column needs to show every cell (its short forms when `short`) and its
    /// header; free text at its fixed cut when `capped`.
    fn natural(&self, i: usize, short: bool, capped: bool) -> usize {
        let column = &self.columns[i];
        let cells = self
            .rows
            .iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.shown(short).width())
            .max()
            .unwrap_or(0);
        let w = cells.max(column.header.width());
        match column.free.and_then(|f| f.cap) {
            Some(cap) if capped => {
                w.min(cap.max(self.floor(i, Some((usize::MAX, false)), Some(0))))
            }
            _ => w,
        }
    }

    /// The narrowest a column may be: its natural width unless it is free text, which keeps
    /// its minimum (and its share of the screen, `limit`) and any kept prefix; with no limit
    /// (the last resort), just its header and any kept prefix.
    fn floor(&self, i: usize, natural: Option<(usize, bool)>, limit: Option<usize>) -> usize {
        let Some((natural, _)) = natural else {
            return 0;
        };
        let column = &self.columns[i];
        let Some(free) = column.free else {
            return natural;
        };
        let keep = self
            .rows
            .iter()
            .filter_map(|r| r.get(i))
            // A cut after the prefix needs one more column for the `…`.
            .map(|c| {
                if c.width() > c.keep {
                    c.keep + 1
                } else {
                    c.keep
                }
            })
            .max()
            .unwrap_or(0);
        let min = match limit {
            None => 0,
            Some(limit) => free.min.max(free.share.map_or(0, |n| limit / n)),
        };
        min.max(column.header.width()).max(keep).min(natural)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Full,
    Short,
    Hidden,
}

/// The widths that fit `limit`, taking the excess from the widest free column one character
/// at a time (never below its floor); `None` when the floors do not fit.
fn shrink(
    natural: &[Option<(usize, bool)>],
    floors: &[usize],
    limit: usize,
) -> Option<Vec<Option<(usize, bool)>>> {
    let total = line_width(natural.iter().flatten().map(|&(w, _)| w));
    let room: usize = natural
        .iter()
        .zip(floors)
        .filter_map(|(n, f)| n.map(|(w, _)| w - f))
        .sum();
    if total > limit && total - limit > room {
        return None;
    }
    let mut widths = natural.to_vec();
    for _ in 0..total.saturating_sub(limit) {
        let widest = (0..widths.len())
            .filter(|&i| widths[i].is_some_and(|(w, _)| w > floors[i]))
            .max_by_key(|&i| (widths[i].map_or(0, |(w, _)| w), std::cmp::Reverse(i)))?;
        if let Some((w, _)) = widths[widest].as_mut() {
            *w -= 1;
        }
    }
    Some(widths)
}

fn line_width(widths: impl Iterator<Item = usize>) -> usize {
    let (count, sum) = widths.fold((0usize, 0usize), |(c, s), w| (c + 1, s + w));
    MARGIN.len() + sum + GAP.len() * count.saturating_sub(1)
}

/// `text` cut to `width` display columns, ending in `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// A line of ours (which may hold SGR color sequences) cut to `width` display columns with
/// `…`; the color sequences take no room and a cut line ends with the color reset.
pub fn fit_line(line: &str, width: usize) -> String {
    let mut visible = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, c) => visible += c.width().unwrap_or(0),
        }
    }
    if visible <= width {
        return line.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    let mut in_escape = false;
    let mut colored = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => {
                in_escape = true;
                colored = true;
                out.push(c);
            }
            (true, 'm') => {
                in_escape = false;
                out.push(c);
            }
            (true, _) => out.push(c),
            (false, c) => {
                let w = c.width().unwrap_or(0);
                if used + w + 1 > width {
                    break;
                }
                used += w;
                out.push(c);
            }
        }
    }
    out.push('…');
    if colored {
        out.push_str("\x1b[39m");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(vec![
            Column::whole("NAME"),
            Column::whole("STATE"),
            Column::free("ERROR", 8, Some(12)),
            Column::whole("TRIPS").right().hide(1),
        ]);
        t.push(vec![
            Cell::new("sim-betmgm"),
            Cell::new("forced_open"),
            Cell::new("503 Service Unavailable from upstream"),
            Cell::new("12"),
        ]);
        t.push(vec![
            Cell::new("fanduel"),
            Cell::new("closed"),
            Cell::new("-"),
            Cell::new("0"),
        ]);
        t
    }

    fn at(width: Option<usize>) -> Vec<String> {
        table().lines(&Layout {
            width,
            ruled: false,
            color: false,
        })
    }

    #[test]
    fn wide_enough_shows_everything_whole() {
        let lines = at(Some(200));
        assert_eq!(
            lines,
            [
                " NAME        STATE        ERROR                                  TRIPS",
                " sim-betmgm  forced_open  503 Service Unavailable from upstream     12",
                " fanduel     closed       -                                          0",
            ]
        );
    }

    #[test]
    fn free_text_shrinks_first_then_columns_hide() {
        let lines = at(Some(50));
        assert!(lines.iter().all(|l| l.width() <= 50), "{lines:#?}");
        assert_eq!(
            lines[1],
            " sim-betmgm  forced_open  503 Service Unav…     12"
        );
        // Too narrow for the free text at its minimum beside TRIPS: TRIPS goes.
        let lines = at(Some(36));
        assert_eq!(
            lines,
            [
                " NAME        STATE        ERROR",
                " sim-betmgm  forced_open  503 Servi…",
                " fanduel     closed       -",
            ]
        );
        // Nothing left to hide: the free text goes below its minimum, down to its header.
        let lines = at(Some(33));
        assert_eq!(lines[1], " sim-betmgm  forced_open  503 Se…");
        // Narrower than the whole values: they stay whole, the line longer than asked.
        let lines = at(Some(10));
        assert_eq!(lines[1], " sim-betmgm  forced_open  503 …");
    }

    #[test]
    fn blank_optional_columns_go_first_and_compact_forms_come_in_rank() {
        let mut t = Table::new(vec![
            Column::whole("WHEN").compact(2),
            Column::whole("WHO").hide(1),
            Column::whole("FORCED").hide(3),
            Column::free("WHY", 6, None),
        ]);
        t.push(vec![
            Cell::with_short("2026-11-28T20:34:39Z (1s ago)", "2026-11-28T20:34:39Z"),
            Cell::new("alice"),
            Cell::new(""),
            Cell::new("maintenance window"),
        ]);
        let at = |width| {
            t.lines(&Layout {
                width: Some(width),
                ..Layout::default()
            })[1]
                .clone()
        };
        // Room enough: everything, the empty FORCED too.
        assert_eq!(
            at(80),
            " 2026-11-28T20:34:39Z (1s ago)  alice          maintenance window"
        );
        // The free text shrinks first; then FORCED, which has nothing to show, goes before
        // WHO's rank 1.
        assert_eq!(at(50), " 2026-11-28T20:34:39Z (1s ago)  alice  maintenanc…");
        assert_eq!(at(40), " 2026-11-28T20:34:39Z (1s ago)  mainten…");
        // Then WHEN's short form, which gives the free text room again.
        assert_eq!(at(35), " 2026-11-28T20:34:39Z  maintenance…");
        // Then the free text below its minimum, down to its header.
        assert_eq!(at(28), " 2026-11-28T20:34:39Z  main…");
    }

    #[test]
    fn no_width_cuts_free_text_at_its_cap_and_never_pads_the_end() {
        let lines = at(None);
        assert_eq!(lines[1], " sim-betmgm  forced_open  503 Service…     12");
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
        let mut t = Table::new(vec![Column::whole("A"), Column::whole("B")]);
        t.push(vec![Cell::new("x"), Cell::new("")]);
        assert_eq!(
            t.render(&Layout::default()),
            " A  B\n x",
            "an empty last cell leaves no spaces"
        );
    }

    #[test]
    fn a_kept_prefix_is_never_cut() {
        let mut t = Table::new(vec![Column::whole("N"), Column::free("LAST", 4, None)]);
        t.push(vec![
            Cell::new("a"),
            Cell::keeping("3m ago by alice", ": a long reason here"),
        ]);
        let lines = t.lines(&Layout {
            width: Some(20),
            ..Layout::default()
        });
        assert_eq!(lines[1], " a  3m ago by alice…");
        // Narrower: the prefix stays whole, and the line longer than asked.
        let lines = t.lines(&Layout {
            width: Some(12),
            ..Layout::default()
        });
        assert_eq!(lines[1], " a  3m ago by alice…");
        let lines = t.lines(&Layout {
            width: Some(25),
            ..Layout::default()
        });
        assert_eq!(lines[1], " a  3m ago by alice: a l…");
    }

    #[test]
    fn rules_span_the_table_and_color_does_not_count() {
        let lines = table().lines(&Layout {
            width: Some(200),
            ruled: true,
            color: true,
        });
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "─".repeat(lines[3].width()));
        assert_eq!(lines[2], lines[0]);
        assert_eq!(lines[5], lines[0]);
        assert_eq!(lines[1].trim_end(), lines[1]);
        // Uncolored header; painted cells keep their columns.
        let plain = at(Some(200));
        let strip = |s: &str| s.replace("\x1b[39m", "").replace("\x1b[31m", "");
        assert_eq!(strip(&lines[3]), plain[1]);
    }

    #[test]
    fn cells_are_escaped_and_wide_characters_measured() {
        let mut t = Table::new(vec![Column::whole("NAME"), Column::free("E", 3, None)]);
        t.push(vec![Cell::new("evil\x1b[2J"), Cell::new("日本語のエラー")]);
        let lines = t.lines(&Layout {
            width: Some(22),
            ..Layout::default()
        });
        assert_eq!(lines[1], r" evil\x1b[2J  日本語…");
        assert!(lines.iter().all(|l| l.width() <= 22));
    }

    #[test]
    fn fit_line_skips_color_sequences() {
        let red = "ab\x1b[31mcd\x1b[39mef";
        assert_eq!(fit_line(red, 6), red);
        assert_eq!(fit_line(red, 4), "ab\x1b[31mc…\x1b[39m");
        assert_eq!(fit_line("abcdef", 3), "ab…");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abcdef", 1), "…");
        assert_eq!(fit("abcdef", 0), "");
    }
}
