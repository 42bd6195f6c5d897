//! Thin entry point: parse, run, map the result to a documented exit code.

use clap::Parser;

fn main() {
    // A closed pipe (`shipready audit | head -1`) ends the process quietly,
    // as it does for other command-line tools, instead of a panic in println!.
    // Nothing is written to the tree after output starts, so no write is cut.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
