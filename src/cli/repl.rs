//! The interactive console (being built).

use super::args::GlobalArgs;

pub fn run(_global: &GlobalArgs) -> i32 {
    eprintln!("breakerctl: the REPL is not built yet");
    1
}
