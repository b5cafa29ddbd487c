//! What WhatsApp (through Twilio) accepts as outbound media: the types, and the size limit of each kind.
//! Images up to 5 MB; audio, video and documents up to 16 MB; stickers (WebP) up to 500 KB.

const MB: u64 = 1024 * 1024;

/// A refusal that names the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRefusal {
    UnsupportedType { content_type: String },
    TooLarge { kind: &'static str, size: u64, limit: u64 },
}

impl std::fmt::Display for MediaRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnsupportedType { content_type } => write!(
                f,
                "WhatsApp does not take {content_type} files: send JPEG or PNG images, AAC/AMR/MP3/MP4/OGG audio, \
                 MP4/3GPP video, WebP stickers, or PDF, Word, Excel, PowerPoint and plain-text documents"
            ),
            Self::TooLarge { kind, size, limit } => {
                write!(f, "this {kind} is {} and WhatsApp takes {kind}s up to {}", human(*size), human(*limit))
            }
        }
    }
}

/// A size for people, rounded *up* (to a tenth of a MB, or a whole KB): a file over a limit never reads as the
/// limit itself.
fn human(bytes: u64) -> String {
    if bytes >= MB {
        let tenths = (bytes * 10).div_ceil(MB);
        format!("{}.{} MB", tenths / 10, tenths % 10).replace(".0 MB", " MB")
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// The kind of `content_type` and its size limit in bytes, or why WhatsApp refuses it.
pub fn limit(content_type: &str) -> Result<(&'static str, u64), MediaRefusal> {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let kind = match essence.as_str() {
        "image/jpeg" | "image/png" => ("image", 5 * MB),
        "image/webp" => ("sticker", 500 * 1024),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => ("audio file", 16 * MB),
        "video/mp4" | "video/3gpp" => ("video", 16 * MB),
        "application/pdf"
        | "application/msword"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "text/plain" => ("document", 16 * MB),
        _ => return Err(MediaRefusal::UnsupportedType { content_type: essence }),
    };
    Ok(kind)
}

/// Checks one file against WhatsApp's limits.
pub fn check(content_type: &str, size: u64) -> Result<(), MediaRefusal> {
    let (kind, limit) = limit(content_type)?;
    if size > limit {
        return Err(MediaRefusal::TooLarge { kind, size, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_size_over_the_limit_never_reads_as_the_limit() {
        let e = check("image/jpeg", 5 * MB + 10).unwrap_err().to_string();
        assert!(e.contains("is 5.1 MB") && e.contains("up to 5 MB"), "{e}");
        let e = check("image/webp", 500 * 1024 + 1).unwrap_err().to_string();
        assert!(e.contains("is 501 KB") && e.contains("up to 500 KB"), "{e}");
        assert_eq!(human(16 * MB), "16 MB");
    }

    use super::*;

    #[test]
    fn images_stop_at_5_mb_and_documents_at_16() {
        assert!(check("image/jpeg", 5 * MB).is_ok());
        let e = check("image/png", 5 * MB + 1).unwrap_err();
        assert_eq!(e, MediaRefusal::TooLarge { kind: "image", size: 5 * MB + 1, limit: 5 * MB });
        assert!(e.to_string().contains("up to 5 MB"), "{e}");
        assert!(check("application/pdf", 16 * MB).is_ok());
        assert!(check("application/pdf; name=x.pdf", 16 * MB + 1).unwrap_err().to_string().contains("16 MB"));
        assert!(check("image/webp", 600 * 1024).unwrap_err().to_string().contains("500 KB"));
    }

    #[test]
    fn other_types_are_refused_by_name() {
        let e = check("application/x-msdownload", 10).unwrap_err();
        assert!(e.to_string().contains("application/x-msdownload"));
        assert!(check("IMAGE/JPEG", 10).is_ok());
    }
}
