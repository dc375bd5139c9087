//! SHA-256 and HMAC-SHA256 for the signer, from ring (feature `ring`, the default) or from
//! RustCrypto's `sha2` and `hmac` (pure Rust: no C compiler for the target), behind one interface.
//!
//! Both keep what [`crate::Signer`] keeps between requests: a hash state that can be cloned after
//! a constant prefix, and an HMAC key whose padded blocks are hashed once, when it is made.
//! Digests and tags come back as each backend's own type, seen as bytes, without a copy.

#[cfg(feature = "ring")]
mod backend {
    use ring::{digest, hmac};

    /// A SHA-256 computation in progress.
    #[derive(Clone)]
    pub(crate) struct Sha256(digest::Context);

    impl Sha256 {
        pub(crate) fn new() -> Self {
            Self(digest::Context::new(&digest::SHA256))
        }

        pub(crate) fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        pub(crate) fn finish(self) -> impl AsRef<[u8]> {
            self.0.finish()
        }
    }

    /// Returns the SHA-256 digest of `data`.
    pub(crate) fn sha256(data: &[u8]) -> impl AsRef<[u8]> {
        digest::digest(&digest::SHA256, data)
    }

    /// An HMAC-SHA256 key, ready to start a tag.
    #[derive(Clone)]
    pub(crate) struct HmacKey(hmac::Key);

    impl HmacKey {
        /// Keys an HMAC; `None` never happens (HMAC takes a key of any length).
        pub(crate) fn new(key: &[u8]) -> Option<Self> {
            Some(Self(hmac::Key::new(hmac::HMAC_SHA256, key)))
        }

        pub(crate) fn start(&self) -> Hmac {
            Hmac(hmac::Context::with_key(&self.0))
        }
    }

    /// An HMAC-SHA256 tag in progress.
    pub(crate) struct Hmac(hmac::Context);

    impl Hmac {
        pub(crate) fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        pub(crate) fn finish(self) -> impl AsRef<[u8]> {
            self.0.sign()
        }
    }
}

#[cfg(not(feature = "ring"))]
mod backend {
    use hmac::{KeyInit, Mac};
    use sha2::Digest;

    /// A SHA-256 computation in progress.
    #[derive(Clone)]
    pub(crate) struct Sha256(sha2::Sha256);

    impl Sha256 {
        pub(crate) fn new() -> Self {
            Self(sha2::Sha256::new())
        }

        pub(crate) fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        pub(crate) fn finish(self) -> impl AsRef<[u8]> {
            self.0.finalize()
        }
    }

    /// Returns the SHA-256 digest of `data`.
    pub(crate) fn sha256(data: &[u8]) -> impl AsRef<[u8]> {
        sha2::Sha256::digest(data)
    }

    /// An HMAC-SHA256 key, ready to start a tag: the keyed state, cloned for every tag.
    #[derive(Clone)]
    pub(crate) struct HmacKey(hmac::Hmac<sha2::Sha256>);

    impl HmacKey {
        /// Keys an HMAC; `None` never happens (HMAC takes a key of any length, hashing a long
        /// one first), but the trait it comes from can say no.
        pub(crate) fn new(key: &[u8]) -> Option<Self> {
            <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
                .ok()
                .map(Self)
        }

        pub(crate) fn start(&self) -> Hmac {
            Hmac(self.0.clone())
        }
    }

    /// An HMAC-SHA256 tag in progress.
    pub(crate) struct Hmac(hmac::Hmac<sha2::Sha256>);

    impl Hmac {
        pub(crate) fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        pub(crate) fn finish(self) -> impl AsRef<[u8]> {
            self.0.finalize().into_bytes()
        }
    }
}

pub(crate) use backend::{Hmac, HmacKey, Sha256, sha256};

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The FIPS 180-2 and RFC 4231 vectors, whichever backend this build has.
    #[test]
    fn known_answers() {
        assert_eq!(
            hex(sha256(b"abc").as_ref()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut parts = Sha256::new();
        parts.update(b"a");
        let kept = parts.clone();
        parts.update(b"bc");
        assert_eq!(parts.finish().as_ref(), sha256(b"abc").as_ref());
        assert_eq!(kept.finish().as_ref(), sha256(b"a").as_ref());

        // RFC 4231, test case 2.
        let key = HmacKey::new(b"Jefe").unwrap();
        let mut tag = key.start();
        tag.update(b"what do ya want ");
        tag.update(b"for nothing?");
        assert_eq!(
            hex(tag.finish().as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231, test case 6: a key longer than a block.
        let mut tag = HmacKey::new(&[0xaa; 131]).unwrap().start();
        tag.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex(tag.finish().as_ref()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
