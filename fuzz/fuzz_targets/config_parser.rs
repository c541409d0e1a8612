//! Any bytes as a zenticket.conf: an error or a config, and every value of every section
//! can be read (interpolated) without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zenticket_hook::config::parser::RawIni;

fuzz_target!(|data: &[u8]| {
    if let Ok(ini) = RawIni::parse(data) {
        for s in &ini.sections {
            for key in ini.keys(s) {
                let _ = ini.get(s, &key);
            }
        }
    }
});
