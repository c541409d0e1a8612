//! Any bytes as a Zenoss router reply: Ok only for `result.success == true`, otherwise a
//! named error; never a panic. Decoded events are mapped as the hook maps them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zenticket_hook::event::Event;
use zenticket_hook::zenoss::decode_reply;

fuzz_target!(|data: &[u8]| {
    if let Ok(result) = decode_reply(data) {
        if let Some(serde_json::Value::Array(events)) = result.get("event") {
            for e in events {
                if let Some(obj) = e.as_object() {
                    let _ = Event::from_json(obj);
                }
            }
        }
    }
});
