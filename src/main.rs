//! Thin entry point: parse, run, map the result to a documented exit code.

use clap::Parser;

fn main() {
    shipready::ui::init_colour();
    let cli = shipready::cli::Cli::parse();
    let code = match shipready::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e}", shipready::ui::error_prefix());
            e.exit_code()
        }
    };
    std::process::exit(code);
}
