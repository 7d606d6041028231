//! Photographs into the explanation methods (`explain::photo`): bad files give clear errors,
//! unusual encodings are converted correctly, and the crop report says where the prepared
//! image lies.
//!
//! The files are made here, byte by byte where no encoder at hand writes them:
//! - a PNG cut in half, a 1x1 PNG, a strip 12.5 times longer than wide, a file that is no
//!   image at all, an empty file;
//! - a PNG whose header claims 20000x20000 pixels, followed by a few bytes of image data: it
//!   must be refused on its header, with the size limit's message, not decoded;
//! - a CMYK JPEG: baseline, 4 components stored inverted with Adobe's APP14 marker, each 8x8
//!   block one flat colour and every quantiser 1, so that each block is its DC coefficient
//!   alone and decodes exactly. Its four quadrants hold known inks; the expected RGB is
//!   `(1 - C)(1 - K)`, `(1 - M)(1 - K)`, `(1 - Y)(1 - K)` in 8-bit levels, within 1.5 levels
//!   (the decoder's `c k / 255` rounds to whole levels). The writer was checked by opening
//!   its output with Pillow 13.0.0 from the oracle environment: mode CMYK, the same inks back,
//!   and the same RGB from Pillow's own conversion;
//! - a 16-bit PNG whose values are not multiples of 257: each must come back as `v / 65535`
//!   (within 1e-6, where an 8-bit reduction would be off by up to 2e-3);
//! - an 8-bit PNG with an EXIF orientation 6 (rotate 90 degrees clockwise) in an `eXIf`
//!   chunk: the decoded photograph must be upright, pixel for pixel.
//!
//! The packaged JPEG `rocket.jpg` goes through the whole preparation; its crop report must
//! locate the prepared pixels exactly in the resized photograph.

mod common;

use std::io::Cursor;
use std::time::Instant;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, RgbImage};
use superlab::LabError;
use superlab::explain::photo::{self, MAX_PIXELS, MIN_SIDE};
use superlab::explain::shearletx;
use superlab::models::vision::prepare;

fn error_of(bytes: &[u8]) -> String {
    match photo::prepare_photo(bytes, &shearletx::preparation()) {
        Err(LabError::Input(message)) => message,
        Err(other) => panic!("not an input error: {other}"),
        Ok(prepared) => panic!("accepted: {:?}", prepared.info),
    }
}

fn png_of(image: DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

/// A colourful 8-bit RGB image, different at every pixel.
fn pattern(width: u32, height: u32) -> RgbImage {
    ImageBuffer::from_fn(width, height, |x, y| {
        Rgb([(x * 7 + y) as u8, (y * 13 + x * 3) as u8, (x * y) as u8])
    })
}

#[test]
fn a_truncated_png_is_damaged() {
    let bytes = png_of(DynamicImage::ImageRgb8(pattern(64, 64)));
    let message = error_of(&bytes[..bytes.len() / 2]);
    println!("{message}");
    assert!(message.contains("damaged or incomplete"), "{message}");
}

#[test]
fn tiny_and_thin_images_are_refused() {
    let message = error_of(&png_of(DynamicImage::ImageRgb8(pattern(1, 1))));
    println!("{message}");
    assert!(
        message.contains("1x1 pixels") && message.contains(&format!("at least {MIN_SIDE}")),
        "{message}"
    );
    let message = error_of(&png_of(DynamicImage::ImageRgb8(pattern(400, 32))));
    println!("{message}");
    assert!(message.contains("crop it closer to a square"), "{message}");
}

#[test]
fn what_is_not_an_image_is_refused() {
    let message = error_of(b"this is plain text, not a picture");
    assert!(
        message.contains("not an image the lab can read"),
        "{message}"
    );
    assert!(error_of(b"").contains("empty"));
}

/// PNG's CRC-32 (ISO 3309), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

#[test]
fn a_header_claiming_20000_by_20000_is_refused_before_decoding() {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(20_000u32.to_be_bytes());
    header.extend(20_000u32.to_be_bytes());
    // 8-bit RGB, deflate, adaptive filtering, not interlaced.
    header.extend([8, 2, 0, 0, 0]);
    png_chunk(&mut bytes, b"IHDR", &header);
    png_chunk(&mut bytes, b"IDAT", &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00]);
    png_chunk(&mut bytes, b"IEND", &[]);
    let started = Instant::now();
    let message = error_of(&bytes);
    println!("{message} ({:?})", started.elapsed());
    // Decoding would have failed differently: the image data is a few bytes.
    assert!(
        message.contains("20000x20000 pixels (400.0 megapixels)")
            && message.contains(&format!("{} megapixels", MAX_PIXELS / 1_000_000))
            && message.contains("scale it down first"),
        "{message}"
    );
}

/// Writes bits most significant first, stuffing a zero byte after every 0xFF as JPEG's
/// entropy-coded data requires.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u32,
    filled: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, bits: u32) {
        for bit in (0..bits).rev() {
            self.current = (self.current << 1) | ((value >> bit) & 1);
            self.filled += 1;
            if self.filled == 8 {
                self.push();
            }
        }
    }

    fn push(&mut self) {
        let byte = self.current as u8;
        self.bytes.push(byte);
        if byte == 0xFF {
            self.bytes.push(0x00);
        }
        self.current = 0;
        self.filled = 0;
    }

    /// Pads the last byte with ones.
    fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            let missing = 8 - self.filled;
            self.put((1 << missing) - 1, missing);
        }
        self.bytes
    }
}

fn jpeg_segment(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
    out.extend([0xFF, marker]);
    out.extend(((data.len() + 2) as u16).to_be_bytes());
    out.extend(data);
}

/// A baseline CMYK JPEG whose 8x8 blocks are flat: block `(bx, by)` has the inks
/// `inks(bx, by)` (0 none, 255 full), stored as `255 - ink` as Adobe's applications store
/// them.
fn cmyk_jpeg(width: usize, height: usize, inks: impl Fn(usize, usize) -> [u8; 4]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    // APP14 "Adobe": version 100, no flags, transform 0 (CMYK as stored, no YCC).
    jpeg_segment(&mut out, 0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00");
    // Quantisation table 0: 8-bit, all ones.
    let mut table = vec![0u8];
    table.extend([1u8; 64]);
    jpeg_segment(&mut out, 0xDB, &table);
    // Baseline frame: 8-bit samples, 4 components without subsampling, table 0.
    let mut frame = vec![8];
    frame.extend((height as u16).to_be_bytes());
    frame.extend((width as u16).to_be_bytes());
    frame.push(4);
    for id in 1..=4 {
        frame.extend([id, 0x11, 0]);
    }
    jpeg_segment(&mut out, 0xC0, &frame);
    // DC table 0: twelve 4-bit codes for the categories 0 to 11, so category c's code is c.
    let mut dc = vec![0x00];
    dc.extend([0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    dc.extend(0..12u8);
    jpeg_segment(&mut out, 0xC4, &dc);
    // AC table 0: one 1-bit code, 0, for end of block.
    let mut ac = vec![0x10];
    ac.extend([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    ac.push(0x00);
    jpeg_segment(&mut out, 0xC4, &ac);
    let mut scan = vec![4];
    for id in 1..=4 {
        scan.extend([id, 0x00]);
    }
    scan.extend([0, 63, 0]);
    jpeg_segment(&mut out, 0xDA, &scan);

    let mut bits = BitWriter::default();
    let mut previous = [0i32; 4];
    for by in 0..height / 8 {
        for bx in 0..width / 8 {
            let inks = inks(bx, by);
            for component in 0..4 {
                // A flat block of level v has the DC coefficient 8 (v - 128).
                let dc = 8 * (255 - i32::from(inks[component]) - 128);
                let difference = dc - previous[component];
                previous[component] = dc;
                let category = 32 - difference.unsigned_abs().leading_zeros();
                bits.put(category, 4);
                if category > 0 {
                    // Negative differences are sent as their value minus one, in `category`
                    // bits.
                    let value = match difference < 0 {
                        true => difference + (1 << category) - 1,
                        false => difference,
                    };
                    bits.put(value as u32, category);
                }
                bits.put(0, 1);
            }
        }
    }
    out.extend(bits.finish());
    out.extend([0xFF, 0xD9]);
    out
}

#[test]
fn a_cmyk_jpeg_is_converted_to_rgb() {
    // Quadrants of 16x16: no ink, full cyan, magenta and yellow (red), a mixture with black.
    let quadrant_inks = [
        [0, 0, 0, 0],
        [255, 0, 0, 0],
        [0, 255, 255, 0],
        [64, 128, 0, 32],
    ];
    let quadrant = |x: usize, y: usize| usize::from(x >= 16) + 2 * usize::from(y >= 16);
    let bytes = cmyk_jpeg(32, 32, |bx, by| quadrant_inks[quadrant(8 * bx, 8 * by)]);
    let decoded = photo::decode_photo(&bytes).unwrap();
    assert_eq!(decoded.info.format, "jpeg");
    assert_eq!(decoded.info.colour, "cmyk8");
    let mut largest = 0.0f64;
    for (x, y, pixel) in decoded.image.enumerate_pixels() {
        let [c, m, ye, k] = quadrant_inks[quadrant(x as usize, y as usize)].map(f64::from);
        let want = [c, m, ye].map(|ink| (255.0 - ink) * (255.0 - k) / 255.0);
        for (got, want) in pixel.0.iter().zip(want) {
            let difference = (f64::from(*got) * 255.0 - want).abs();
            largest = largest.max(difference);
            assert!(
                difference <= 1.5,
                "({x}, {y}): {:?} against {want:?} levels",
                pixel.0.map(|v| v * 255.0)
            );
        }
    }
    println!("CMYK to RGB: largest difference {largest:.3} levels");
}

#[test]
fn a_16_bit_png_keeps_its_precision() {
    let value = |x: u32, y: u32, c: u32| ((x * 2039 + y * 757 + c * 12_345) % 65_536) as u16;
    let image: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(40, 36, |x, y| Rgb([0, 1, 2].map(|c| value(x, y, c))));
    let decoded = photo::decode_photo(&png_of(DynamicImage::ImageRgb16(image))).unwrap();
    assert_eq!(decoded.info.colour, "rgb16");
    let mut largest = 0.0f64;
    for (x, y, pixel) in decoded.image.enumerate_pixels() {
        for (c, got) in pixel.0.iter().enumerate() {
            let want = f64::from(value(x, y, c as u32)) / 65_535.0;
            largest = largest.max((f64::from(*got) - want).abs());
        }
    }
    println!("16-bit PNG: largest difference {largest:.3e}");
    assert!(largest <= 1e-6);
}

#[test]
fn an_exif_orientation_is_applied() {
    let (width, height) = (40u32, 32u32);
    let stored = pattern(width, height);
    // Big-endian TIFF header, one IFD entry: Orientation (0x0112), SHORT, 1 value, 6.
    let exif =
        b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\
                 \x00\x00\x00\x00";
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_chunk(png::chunk::ChunkType(*b"eXIf"), exif)
        .unwrap();
    writer.write_image_data(stored.as_raw()).unwrap();
    writer.finish().unwrap();

    let decoded = photo::decode_photo(&bytes).unwrap();
    assert_eq!(decoded.info.orientation, "rotate90");
    assert_eq!((decoded.info.width, decoded.info.height), (width, height));
    assert_eq!(decoded.image.dimensions(), (height, width));
    // Turned clockwise: the upright image's top-left pixel is the stored bottom-left one.
    for (x, y, pixel) in decoded.image.enumerate_pixels() {
        let source = stored.get_pixel(y, height - 1 - x);
        assert_eq!(
            pixel.0,
            source.0.map(|v| f32::from(v) / 255.0),
            "({x}, {y})"
        );
    }
}

#[test]
fn the_crop_report_locates_the_prepared_pixels() {
    let bytes = common::read_asset("photos/rocket.jpg");
    let preparation = shearletx::preparation();
    let prepared = photo::prepare_photo(&bytes, &preparation).unwrap();
    println!("{:?}\n{:?}", prepared.info, prepared.crop);
    assert_eq!(
        (prepared.info.format.as_str(), prepared.info.colour.as_str()),
        ("jpeg", "rgb8")
    );
    let crop = &prepared.crop;
    assert_eq!(crop.upright, [640, 427]);
    // 256 / 427 of 640 is 383.7, rounded down; the crop starts at round(127 / 2) = 64.
    assert_eq!(crop.resized, [383, 256]);
    assert_eq!(crop.offset, [64, 0]);
    let decoded = photo::decode_photo(&bytes).unwrap();
    let resized = prepare::resize(
        &decoded.image,
        crop.resized[0] as usize,
        crop.resized[1] as usize,
        preparation.resampling,
    );
    let [left, top] = crop.offset;
    let cut = image::imageops::crop_imm(&resized, left, top, crop.size, crop.size).to_image();
    assert!(
        cut == prepared.image,
        "the report's crop is not the prepared image"
    );
    let [region_left, _, region_width, region_height] = crop.source_region;
    assert!((region_left - 64.0 * 640.0 / 383.0).abs() < 1e-9);
    assert!((region_width - 256.0 * 640.0 / 383.0).abs() < 1e-9);
    assert!((region_height - 427.0).abs() < 1e-9);
    assert_eq!(prepared.planar().len(), 3 * 256 * 256);
}
