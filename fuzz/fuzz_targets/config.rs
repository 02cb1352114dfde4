//! Configuration loader: any text is a configuration or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = vigie::Config::parse(text, "fuzz.toml", None, &[]);
});
