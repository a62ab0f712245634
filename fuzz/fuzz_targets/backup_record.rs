#![no_main]
// The reader is in falconer::fuzz, shared with the suite's replay of what this target finds.
libfuzzer_sys::fuzz_target!(|data: &[u8]| falconer::fuzz::backup_record(data));
