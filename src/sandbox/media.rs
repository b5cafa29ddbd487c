//! Media the sandbox's customers send: a voice note, generated here (a short tone as 16-bit PCM WAV), served where
//! Twilio serves a customer's media (`/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…`, behind the account's
//! credentials), so that Switchboard downloads it exactly as it downloads a real customer's.

/// What a voice note from the sandbox phone is.
pub const VOICE_NOTE_TYPE: &str = "audio/wav";

/// A mono 16-bit PCM WAV of `samples` samples at `rate` Hz: a 440 Hz tone.
pub fn tone(rate: u32, samples: u32) -> Vec<u8> {
    let data = samples * 2;
    let mut w = Vec::with_capacity(44 + data as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data.to_le_bytes());
    for i in 0..samples {
        let t = i as f64 / rate as f64;
        let v = (f64::sin(2.0 * std::f64::consts::PI * 440.0 * t) * 8000.0) as i16;
        w.extend_from_slice(&v.to_le_bytes());
    }
    w
}

/// The sandbox's voice note: one second at 8 kHz (16 KB).
pub fn voice_note() -> Vec<u8> {
    tone(8000, 8000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voice_note_is_a_wav_file_of_one_second() {
        let v = voice_note();
        assert_eq!(&v[..4], b"RIFF");
        assert_eq!(&v[8..16], b"WAVEfmt ");
        assert_eq!(v.len(), 44 + 16_000);
    }
}
