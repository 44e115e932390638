fn main() {
    std::process::exit(breakerctl::cli::main_exit_code());
}
