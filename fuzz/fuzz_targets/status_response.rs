#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ses_dkim_fuzz::checks::status_response(data));
