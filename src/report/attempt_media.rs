//! The media of a test attempt (screenshots, video, trace, attachments), each with where it
//! came from ([`MediaRef`]), so that a relay can have Currents sign the link afresh.

use super::build::non_empty;
use super::{MediaKind, MediaLink, MediaRef};
use crate::currents::models::{Attempt, Instance, InstanceId, InstanceResults, Test};

/// The media of attempt `attempt` (0-based) of test `test_id` in `instance`, as the report
/// links it: what a relay looks up to sign a link again.
pub fn test_media(instance: &Instance, test_id: &str, attempt: usize) -> Vec<MediaLink> {
    let Some(results) = instance.results.as_ref() else {
        return Vec::new();
    };
    let Some(test) = results.tests.iter().find(|t| t.test_id == test_id) else {
        return Vec::new();
    };
    media(
        &instance.instance_id,
        results,
        test,
        attempt,
        test.attempts.get(attempt),
    )
}

/// The media of one attempt, in reading order: screenshots, video, trace, attachments.
pub(super) fn media(
    instance: &InstanceId,
    results: &InstanceResults,
    test: &Test,
    index: usize,
    attempt: Option<&Attempt>,
) -> Vec<MediaLink> {
    let of = AttemptMedia {
        instance,
        test,
        index,
    };
    let mut links = of.screenshots(results);
    links.extend(of.video(results, attempt));
    links.extend(of.trace(results));
    links.extend(of.attachments(results));
    links
}

/// The media of one attempt of one test, and where each piece came from.
struct AttemptMedia<'a> {
    instance: &'a InstanceId,
    test: &'a Test,
    /// The 0-based attempt.
    index: usize,
}

impl AttemptMedia<'_> {
    /// Whether an artifact naming this test and attempt is this attempt's.
    fn owns(&self, test_id: &Option<String>, attempt: &Option<usize>) -> bool {
        test_id.as_deref() == Some(self.test.test_id.as_str()) && *attempt == Some(self.index)
    }

    fn link(&self, label: String, url: String, kind: MediaKind, n: usize) -> MediaLink {
        MediaLink {
            label,
            url,
            source: Some(MediaRef {
                instance: self.instance.to_string(),
                test: self.test.test_id.clone(),
                attempt: self.index,
                kind,
                n,
            }),
        }
    }

    fn screenshots(&self, results: &InstanceResults) -> Vec<MediaLink> {
        let shots: Vec<&str> = results
            .screenshots
            .iter()
            .filter(|s| self.owns(&s.test_id, &s.test_attempt_index))
            .filter_map(|s| s.screenshot_url.as_deref())
            .collect();
        let one = shots.len() == 1;
        shots
            .iter()
            .enumerate()
            .map(|(n, url)| {
                let label = if one {
                    "screenshot".to_owned()
                } else {
                    format!("screenshot {}", n + 1)
                };
                self.link(label, (*url).to_owned(), MediaKind::Screenshot, n)
            })
            .collect()
    }

    /// The attempt's video; for Cypress, which records one video per spec, that video at the
    /// attempt's timestamp.
    fn video(&self, results: &InstanceResults, attempt: Option<&Attempt>) -> Option<MediaLink> {
        if let Some(video) = results
            .videos
            .iter()
            .find(|v| self.owns(&v.test_id, &v.test_attempt_index))
            .and_then(|v| v.video_url.clone())
        {
            return Some(self.link("video".into(), video, MediaKind::Video, 0));
        }
        let spec_video = non_empty(results.video_url.as_deref())?;
        Some(match attempt.and_then(|a| a.video_timestamp) {
            Some(ms) if ms >= 0.0 => {
                let seconds = ms / 1000.0;
                let label = format!(
                    "video at {}:{:02}",
                    (seconds / 60.0).floor(),
                    (seconds % 60.0).floor()
                );
                let url = format!("{spec_video}#t={seconds:.1}");
                self.link(label, url, MediaKind::Video, 0)
            }
            _ => self.link(
                "spec video".into(),
                spec_video.to_owned(),
                MediaKind::Video,
                0,
            ),
        })
    }

    /// The attempt's Playwright trace, opened in the trace viewer.
    fn trace(&self, results: &InstanceResults) -> Option<MediaLink> {
        let trace = results
            .playwright_traces
            .iter()
            .find(|t| self.owns(&t.test_id, &t.test_attempt_index))
            .and_then(|t| t.trace_url.as_deref())?;
        let viewer = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("trace", trace)
            .finish();
        let url = format!("https://trace.playwright.dev/?{viewer}");
        Some(self.link("trace".into(), url, MediaKind::Trace, 0))
    }

    fn attachments(&self, results: &InstanceResults) -> Vec<MediaLink> {
        results
            .attachments
            .iter()
            .filter(|a| self.owns(&a.test_id, &a.test_attempt_index))
            .filter_map(|a| Some((a, a.read_url.as_deref()?)))
            .enumerate()
            .map(|(n, (attachment, url))| {
                let label = attachment
                    .filename
                    .clone()
                    .or(attachment.name.clone())
                    .unwrap_or_else(|| "attachment".into());
                self.link(label, url.to_owned(), MediaKind::Attachment, n)
            })
            .collect()
    }
}
