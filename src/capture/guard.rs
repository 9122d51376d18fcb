//! A capture file truncated while it is mapped: the reader's next access to a page beyond the
//! new end raises SIGBUS, which would kill the process with no word. A handler turns a SIGBUS
//! inside the mapping being read into a clear error naming the file and exit status 2 (the
//! state file is not touched: `read` saves only after every input was read). A SIGBUS anywhere
//! else keeps its default action.
//!
//! Recovering and carrying on is not possible safely (the faulting access is in the middle of
//! parsing), and copying every input to avoid mapping would cost what mapping saves; a file
//! that is still being written should be read once it is complete (or from a pipe: `cat f |
//! stekwatch read -`, which is spooled).

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// The line printed for a SIGBUS in `START..END` (a leaked `Vec`, replaced per input).
static MESSAGE: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());
static INSTALL: Once = Once::new();

/// Makes `map` (the input `name`) the mapping whose truncation is reported.
pub fn watch(map: &[u8], name: &str) {
    INSTALL.call_once(install);
    let line = format!(
        "stekwatch: error: {name} was truncated while it was being read (it shrank under the \
         reader); nothing was reported or saved: read it again once it is complete\n"
    );
    // Cleared first, so the handler never pairs the new range with the old message.
    START.store(0, Ordering::SeqCst);
    END.store(0, Ordering::SeqCst);
    let old = MESSAGE.swap(Box::into_raw(Box::new(line.into_bytes())), Ordering::SeqCst);
    if !old.is_null() {
        // SAFETY: made by `Box::into_raw` above; the reader of the previous input (the only one
        // who could fault in its range) has finished with it before the next input opens.
        drop(unsafe { Box::from_raw(old) });
    }
    let start = map.as_ptr() as usize;
    START.store(start, Ordering::SeqCst);
    END.store(start + map.len(), Ordering::SeqCst);
}

fn install() {
    // SAFETY: installs a handler that only reads atomics and calls async-signal-safe
    // functions (write, _exit, signal).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = (START.load(Ordering::SeqCst), END.load(Ordering::SeqCst));
    let msg = MESSAGE.load(Ordering::SeqCst);
    if (start..end).contains(&addr) && !msg.is_null() {
        // SAFETY: `msg` points at a live Vec (see `watch`); write and _exit are
        // async-signal-safe.
        unsafe {
            let m = &*msg;
            libc::write(2, m.as_ptr().cast(), m.len());
            libc::_exit(2);
        }
    }
    // Not ours: the default action (the faulting access repeats and kills the process).
    // SAFETY: signal is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
