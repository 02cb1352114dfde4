//! A CISE-shaped `IrregularMigrationIncident` for each raised taxi-boat pickup: the vessel,
//! where and when, and the certainty CAP gives it, for a national CISE adaptor to forward.
//!
//! "Shaped": the element names and nesting follow the CISE data model 1.5.3 (EMSA's
//! published guidelines: an incident with `Certainty`, `NatureType`, `OccurrencePeriod`,
//! `ResponseType`, a `LocationRel` geometry and the vessel as an `InvolvedObjectRel`), but
//! the CISE schemas are not available offline here and the document is not validated
//! against them; connecting to a real node needs its credentials and a service agreement
//! (out of scope, README). Exercise data is `NatureType` `Simulated`, never `Observed`.

use super::text::{self, el, XmlWriter};
use super::ReportContext;
use crate::behaviour::alert::KIND_TAXI_BOAT;
use crate::behaviour::{AlertEvent, AlertState};
use quick_xml::events::{BytesDecl, Event};
use quick_xml::Writer;

const VESSEL_NS: &str = "http://www.cise.eu/datamodel/v1/entity/vessel/";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The incident of a raised pickup; `None` for any other event.
pub fn incident(ctx: &ReportContext, a: &AlertEvent) -> Option<String> {
    if a.state != AlertState::Raised || a.kind != KIND_TAXI_BOAT {
        return None;
    }
    let shore = ctx.shore(a);
    let start = a.t.plus_secs(-a.dwell_s).to_rfc3339();
    let (date, time) = start.split_once('T').unwrap_or((&start, ""));
    let time = format!("{}Z", &time[..8.min(time.len())]);
    let seen = text::cap_time(a.t);
    let mut instructions = format!(
        "{} loitering {} for {}, {:.1} kn: suspected taxi-boat pickup. Send the nearest land or sea unit to verify; expect people in the water.",
        text::vessel(a),
        text::off(a, shore.as_ref()),
        text::duration(a.dwell_s),
        a.speed_kn
    );
    if a.exercise {
        instructions.insert_str(0, "EXERCISE - not a live incident. ");
    }
    let mut w = Writer::new(Vec::with_capacity(2048));
    let r: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("IrregularMigrationIncident")
            .with_attribute(("xmlns:xsi", XSI_NS))
            .with_attribute(("xmlns:vessel", VESSEL_NS))
            .write_inner_content(|w| {
                w.create_element("Identifier").write_inner_content(|w| {
                    el(w, "GeneratedBy", &ctx.sender)?;
                    el(w, "UUID", &a.id)
                })?;
                el(w, "Certainty", if a.dark { "Likely" } else { "Possible" })?;
                el(w, "Instructions", &instructions)?;
                el(
                    w,
                    "NatureType",
                    if a.exercise { "Simulated" } else { "Observed" },
                )?;
                w.create_element("OccurrencePeriod")
                    .write_inner_content(|w| {
                        el(w, "StartDate", date)?;
                        el(w, "StartTime", &time)
                    })?;
                el(w, "ResponseType", "Prepare")?;
                location(w, a, &seen)?;
                w.create_element("InvolvedObjectRel")
                    .write_inner_content(|w| {
                        w.create_element("Object")
                            .with_attribute(("xsi:type", "vessel:Vessel"))
                            .write_inner_content(|w| {
                                if let Some(n) = &a.name {
                                    el(w, "Name", n)?;
                                }
                                location(w, a, &seen)?;
                                if let Some(m) = a.mmsi {
                                    el(w, "MMSI", &m.to_string())?;
                                }
                                Ok(())
                            })?;
                        el(w, "ObjectRole", "Suspect")
                    })?;
                Ok(())
            })?;
        Ok(())
    })();
    r.expect("writing XML to memory cannot fail");
    Some(String::from_utf8(w.into_inner()).expect("the writer writes UTF-8"))
}

type W = XmlWriter;

fn location(w: &mut W, a: &AlertEvent, when: &str) -> std::io::Result<()> {
    w.create_element("LocationRel").write_inner_content(|w| {
        w.create_element("Location").write_inner_content(|w| {
            w.create_element("Geometry").write_inner_content(|w| {
                el(w, "Latitude", &format!("{:.6}", a.lat))?;
                el(w, "Longitude", &format!("{:.6}", a.lon))
            })?;
            if let Some(z) = &a.zone {
                el(w, "LocationQualitativeDescription", &z.name)?;
            }
            Ok(())
        })?;
        el(w, "DateTime", when)
    })?;
    Ok(())
}
