//! The operator CLI (placeholder until the CLI lands).

pub fn main_exit_code() -> i32 {
    eprintln!("breakerctl: the CLI is not built yet");
    1
}
