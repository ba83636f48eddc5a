//! Published WebAuthn assertions through the assertion verifier
//! (`webauthn::verify_assertion`). Their challenges are not authorization
//! hashes, so the lower layer is tested: clientDataJSON, rpIdHash, flags, and
//! the ES256 signature over authenticatorData ‖ SHA-256(clientDataJSON).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use signet_authority::webauthn::{verify_assertion, AssertionCheck, WebAuthnError};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn key_xy(x: &str, y: &str) -> p256::ecdsa::VerifyingKey {
    let mut sec1 = vec![4u8];
    sec1.extend(h(x));
    sec1.extend(h(y));
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap()
}

/// One authentication example of the W3C Web Authentication Level 3
/// specification, section "Test Vectors" (w3c/webauthn, index.bs, commit
/// 146d0db03cb88e69a8f6f0c3c168221abe73504b): RP ID `example.org`, origin
/// `https://example.org`. The credential public key's x and y are from the
/// registration example's attestationObject (COSE key); the private key is
/// given there too, and the test checks they match.
struct W3c {
    name: &'static str,
    private_key: &'static str,
    x: &'static str,
    y: &'static str,
    challenge: &'static str,
    authenticator_data: &'static str,
    client_data_json: &'static str,
    signature: &'static str,
}

const NONE_ES256: W3c = W3c {
    name: "ES256 Credential with No Attestation",
    private_key: "6e68e7a58484a3264f66b77f5d6dc5bc36a47085b615c9727ab334e8c369c2ee",
    x: "afefa16f97ca9b2d23eb86ccb64098d20db90856062eb249c33a9b672f26df61",
    y: "930a56b87a2fca66334b03458abf879717c12cc68ed73290af2e2664796b9220",
    challenge: "39c0e7521417ba54d43e8dc95174f423dee9bf3cd804ff6d65c857c9abf4d408",
    authenticator_data: "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b51900000000",
    client_data_json: "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a224f63446e55685158756c5455506f334a5558543049393770767a7a59425039745a63685879617630314167222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73657d",
    signature: "3046022100f50a4e2e4409249c4a853ba361282f09841df4dd4547a13a87780218deffcd380221008480ac0f0b93538174f575bf11a1dd5d78c6e486013f937295ea13653e331e87",
};

const PACKED_SELF_ES256: W3c = W3c {
    name: "ES256 Credential with Self Attestation",
    private_key: "b4bbfa5d68e1693b6ef5a19a0e60ef7ee2cbcac81f7fec7006ac3a21e0c5116a",
    x: "eb151c8176b225cc651559fecf07af450fd85802046656b34c18f6cf193843c5",
    y: "927b8aa427a2be1b8834d233a2d34f61f13bfd44119c325d5896e183fee484f2",
    challenge: "4478a10b1352348dd160c1353b0d469b5db19eb91c27f7dfa6fed39fe26af20b",
    authenticator_data: "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b50900000000",
    client_data_json: "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a225248696843784e534e493352594d45314f7731476d3132786e726b634a5f6666707637546e2d4a71386773222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73652c22657874726144617461223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c207375636820617320746869733a206754623533727a36456853576f6d58477a696d433151227d",
    signature: "304402203310b9431903c401f1be2bdc8d23a4007682dbbddcf846994947b7f465daf84002204e94dd00047b316061b3b99772b7efd95994a83ef584b3b6b825ea3550251b66",
};

const LONG_CREDENTIAL_ID_ES256: W3c = W3c {
    name: "ES256 Credential with very long credential ID",
    private_key: "6fd2149bb5f1597fe549b138794bde61893b2dc32ca316de65f04808dac211dc",
    x: "3b8176b7504489cc593046d7988abb7905a742de6ac2cdc748a873c663e90cb1",
    y: "1436d5edc9a75f23999eef9d5950a5c2455514ee1014084720f841a06b828a11",
    challenge: "ef1deba56dce48f674a447ccf63b9599258ce87648e5c396f2ef0ca1da460e3b",
    authenticator_data: "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b50d00000000",
    client_data_json: "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a22377833727057334f53505a307045664d396a75566d53574d36485a4935634f573875384d6f647047446a73222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73657d",
    signature: "304502203ecef83fb12a0cae7841055f9f87103a99fd14b424194bbf06c4623d3ee6e3fd022100d2ace346db262b1374a6b70faa51f518a42ddca13a4125ce6f5052a75bac9fb6",
};

const PACKED_ES256: W3c = W3c {
    name: "Packed Attestation with ES256 Credential",
    private_key: "36ed7bea2357cefa8c4ec7e134f3312d2e6ca3058519d0bcb4c1424272010432",
    x: "1cf27f25da591208a4239c2e324f104f585525479a29edeedd830f48e77aeae5",
    y: "59e4b7da6c0106e206ce390c93ab98a15a5ec3887e57f0cc2bece803b920c423",
    challenge: "b1106fa46a57bef1781511c0557dc898a03413d5f0f17d244630c194c7e1adb5",
    authenticator_data: "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b50d00000000",
    client_data_json: "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a2273524276704770587676463446524841565833496d4b4130453958773858306b526a44426c4d6668726255222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73652c22657874726144617461223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c207375636820617320746869733a20415a4d77794d78496244382d756775464e7036723851227d",
    signature: "30450220694969d3ee928de6f02ef23a9c644d7d779916451734a94b432542f498a1ebe90221008b0819c824218a97152cd099c55bfb1477b29d900a49a64018314f9bfccda163",
};

/// Same source: `"crossOrigin": true` in clientDataJSON.
const CROSS_ORIGIN_ES256: W3c = W3c {
    name: "ES256 Credential with \"crossOrigin\": true in clientDataJSON",
    private_key: "96c940e769bd9f1237c119f144fa61a4d56af0b3289685ae2bef7fb89620623d",
    x: "22200a473f90b11078851550d03b4e44a2279f8c4eca27b3153dedfe03e4e97d",
    y: "cbd0be95e746ad6f5a8191be11756e4c0420e72f65b466d39bc56b8b123a9c6e",
    challenge: "876aa517ba83fdee65fcffdbca4c84eeae5d54f8041a1fc85c991e5bbb273137",
    authenticator_data: "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b50500000000",
    client_data_json: "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a226832716c463771445f65356c5f505f62796b7945377135645650674547685f49584a6b655737736e4d5463222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a747275652c22657874726144617461223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c207375636820617320746869733a2039327063545644304162792d713464746d6a36656667227d",
    signature: "3046022100eb12fcf23b12764c0f122e22371fab92e283879fd798f38ee1841c951b6e40e7022100c76237ff9db77b3c56f30837cda6a09acfa2e915544e609c0733b1184036d1cf",
};

/// Same source: `topOrigin` in clientDataJSON (and `crossOrigin` true).
const TOP_ORIGIN_ES256: W3c = W3c {
    name: "ES256 Credential with \"topOrigin\" in clientDataJSON",
    private_key: "a2d6de40ab974b80d8c1ef78c6d4300097754f7e016afe7f8ea0ad9798b0d420",
    x: "a1c47c1d82da4ebe82cd72207102b380670701993bc35398ae2e5726427fe01d",
    y: "86c1080d82987028c7f54ecb1b01185de243b359294a0ed210cd47480f0adc88",
    challenge: "d54a5c8ca4b62a8e3bb321e3b2bc73856f85a10150db2939ac195739eb1ea066",
    authenticator_data: "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b50500000000",
    client_data_json: "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a22315570636a4b53324b6f34377379486a7372787a68572d466f51465132796b3572426c584f6573656f4759222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a747275652c22746f704f726967696e223a2268747470733a2f2f6578616d706c652e636f6d222c22657874726144617461223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c207375636820617320746869733a205569466f4a4d56525148444146574669347678557051227d",
    signature: "3045022100b5a70c81780d5fcc9a4f2ae9caae99058f8accaf58b91fb59329646c28ac6ffc022012e101c165db3c8e9957f0c54dd6ca9b56bc3bd2f280bd2faa6c1d02c6e5c171",
};

fn w3c_key(v: &W3c) -> p256::ecdsa::VerifyingKey {
    let key = key_xy(v.x, v.y);
    let from_private = p256::ecdsa::SigningKey::from_slice(&h(v.private_key)).unwrap();
    assert_eq!(
        from_private.verifying_key(),
        &key,
        "{}: the published key pair",
        v.name
    );
    key
}

fn w3c_verify(v: &W3c, require_uv: bool) -> Result<u32, WebAuthnError> {
    let key = w3c_key(v);
    let origins = ["https://example.org".to_owned()];
    let challenge = h(v.challenge);
    let check = AssertionCheck {
        public_key: &key,
        rp_id: "example.org",
        origins: &origins,
        challenge: &challenge,
        require_user_verification: require_uv,
    };
    verify_assertion(
        &check,
        &h(v.authenticator_data),
        &h(v.client_data_json),
        &h(v.signature),
    )
    .map(|a| a.sign_count)
}

#[test]
fn w3c_vectors_verify() {
    for v in [
        NONE_ES256,
        PACKED_SELF_ES256,
        LONG_CREDENTIAL_ID_ES256,
        PACKED_ES256,
    ] {
        assert_eq!(w3c_verify(&v, false), Ok(0), "{}", v.name);
    }
}

#[test]
fn w3c_vector_with_high_s_verifies() {
    // The "No Attestation" example's s (0x8480…) is above n/2.
    let sig = p256::ecdsa::Signature::from_der(&h(NONE_ES256.signature)).unwrap();
    assert!(sig.normalize_s().is_some(), "high S");
    assert_eq!(w3c_verify(&NONE_ES256, false), Ok(0));
}

#[test]
fn w3c_vectors_with_user_verification_required() {
    // Flags 0x0d (UP, UV, BE) verify; 0x19 (UP, BE, BS) and 0x09 (UP, BE) lack UV.
    assert_eq!(w3c_verify(&PACKED_ES256, true), Ok(0));
    assert_eq!(w3c_verify(&LONG_CREDENTIAL_ID_ES256, true), Ok(0));
    assert_eq!(
        w3c_verify(&NONE_ES256, true),
        Err(WebAuthnError::UserNotVerified)
    );
    assert_eq!(
        w3c_verify(&PACKED_SELF_ES256, true),
        Err(WebAuthnError::UserNotVerified)
    );
}

#[test]
fn refuses_w3c_cross_origin_vectors() {
    for v in [CROSS_ORIGIN_ES256, TOP_ORIGIN_ES256] {
        let e = w3c_verify(&v, false).unwrap_err();
        assert!(
            matches!(e, WebAuthnError::CrossOrigin(_)),
            "{}: {e}",
            v.name
        );
        // Refused for that alone: the signature itself is good.
        use p256::ecdsa::signature::Verifier as _;
        use sha2::{Digest as _, Sha256};
        let mut signed = h(v.authenticator_data);
        signed.extend(Sha256::digest(h(v.client_data_json)));
        let sig = p256::ecdsa::Signature::from_der(&h(v.signature)).unwrap();
        assert!(w3c_key(&v).verify(&signed, &sig).is_ok(), "{}", v.name);
    }
}

#[test]
fn refuses_w3c_vector_for_another_rp_or_origin_or_challenge() {
    let key = w3c_key(&NONE_ES256);
    let ok_origins = ["https://example.org".to_owned()];
    let other_origins = ["https://example.com".to_owned()];
    let challenge = h(NONE_ES256.challenge);
    let data = h(NONE_ES256.authenticator_data);
    let client = h(NONE_ES256.client_data_json);
    let sig = h(NONE_ES256.signature);
    let run = |rp_id: &str, origins: &[String], challenge: &[u8]| {
        verify_assertion(
            &AssertionCheck {
                public_key: &key,
                rp_id,
                origins,
                challenge,
                require_user_verification: false,
            },
            &data,
            &client,
            &sig,
        )
    };
    assert_eq!(
        run("example.com", &ok_origins, &challenge),
        Err(WebAuthnError::RpIdMismatch)
    );
    assert!(matches!(
        run("example.org", &other_origins, &challenge),
        Err(WebAuthnError::OriginNotAllowed(_))
    ));
    assert_eq!(
        run("example.org", &ok_origins, &[0u8; 32]),
        Err(WebAuthnError::ChallengeMismatch)
    );
    let mut bad = sig.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let e = verify_assertion(
        &AssertionCheck {
            public_key: &key,
            rp_id: "example.org",
            origins: &ok_origins,
            challenge: &challenge,
            require_user_verification: false,
        },
        &data,
        &client,
        &bad,
    );
    assert_eq!(e, Err(WebAuthnError::BadSignature));
}

/// An EC2 credential public key in COSE (`{1: 2, 3: -7, -1: 1, -2: x, -3: y}`
/// in that order, as these libraries write it).
fn cose_ec2(cose: &[u8]) -> p256::ecdsa::VerifyingKey {
    assert_eq!(
        &cose[..10],
        &h("a5010203262001215820")[..],
        "kty EC2, alg ES256, crv P-256, x"
    );
    assert_eq!(&cose[42..45], &h("225820")[..], "y");
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&cose[10..42]);
    sec1.extend_from_slice(&cose[45..77]);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap()
}

/// An assertion from duo-labs/py_webauthn's test suite
/// (tests/test_verify_authentication_response.py, commit
/// 00e5dc886b1ad6246134bbcf7950b8f93641eec9): RP ID `localhost`, origin
/// `http://localhost:5000`, all values base64url as published.
struct PyWebauthn {
    name: &'static str,
    credential_public_key: &'static str,
    challenge: &'static str,
    authenticator_data: &'static str,
    client_data_json: &'static str,
    signature: &'static str,
}

const PY_EC2: PyWebauthn = PyWebauthn {
    name: "test_verify_authentication_response_with_EC2_public_key",
    credential_public_key: "pQECAyYgASFYIIeDTe-gN8A-zQclHoRnGFWN8ehM1b7yAsa8I8KIvmplIlgg4nFGT5px8o6gpPZZhO01wdy9crDSA_Ngtkx0vGpvPHI",
    challenge: "xi30GPGAFYRxVDpY1sM10DaLzVQG66nv-_7RUazH0vI2YvG8LYgDEnvN5fZZNVuvEDuMi9te3VLqb42N0fkLGA",
    authenticator_data: "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAATg",
    client_data_json: "eyJjaGFsbGVuZ2UiOiJ4aTMwR1BHQUZZUnhWRHBZMXNNMTBEYUx6VlFHNjZudi1fN1JVYXpIMHZJMll2RzhMWWdERW52TjVmWlpOVnV2RUR1TWk5dGUzVkxxYjQyTjBma0xHQSIsImNsaWVudEV4dGVuc2lvbnMiOnt9LCJoYXNoQWxnb3JpdGhtIjoiU0hBLTI1NiIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCIsInR5cGUiOiJ3ZWJhdXRobi5nZXQifQ",
    signature: "MEUCIGisVZOBapCWbnJJvjelIzwpixxIwkjCCb5aCHafQu68AiEA88v-2pJNNApPFwAKFiNuf82-2hBxYW5kGwVweeoxCwo",
};

const PY_UV_FALSE: PyWebauthn = PyWebauthn {
    name: "test_raises_exception_on_uv_required_but_false",
    credential_public_key: "pQECAyYgASFYIOQ5TKpXJR2cV76Wgfge9BkLkEhLxVjhFjM1jKHYOcqpIlggaiNy1blt3OU8Hsmg041HUYP7eajgL7fk3nSuTEjYCwU",
    challenge: "umGemXJIPBXPxkD8Hjanuv9BDor8Z7O3aPdtOgMCdW4PAfqDX43EFlhrsF0PW90df5zrgbt7YVMRAa27tCdHzw",
    authenticator_data: "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAAIQ",
    client_data_json: "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoidW1HZW1YSklQQlhQeGtEOEhqYW51djlCRG9yOFo3TzNhUGR0T2dNQ2RXNFBBZnFEWDQzRUZsaHJzRjBQVzkwZGY1enJnYnQ3WVZNUkFhMjd0Q2RIenciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
    signature: "MEUCIGp5ADnU_SFvT4J_bKvQJ4Pc1GmANhbYq5GioOLjyUrxAiEA6Kk5qAZb8MLY-jyTiJLr_R9Fke02UHkxsRB0dnZt2X8",
};

const PY_MULTI_ORIGIN: PyWebauthn = PyWebauthn {
    name: "test_supports_multiple_expected_origins",
    credential_public_key: "pQECAyYgASFYIFm1Py-FzzFOuwXbRbTr95SiDxuB1BkZsEEJxFhquzqkIlggL1U1T713Jo_2muzhXvpbwRNdoAs8CYK6PflvY1MBdCI",
    challenge: "6zrSRX8CxwPSXEArXyXL2tpb6rB7Star0rLVIj5rvf74mZKF5ir715Xmgz5tA_GyHexN4oXfrQ889ArVCLaRdA",
    authenticator_data: "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFYN-Mog",
    client_data_json: "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiNnpyU1JYOEN4d1BTWEVBclh5WEwydHBiNnJCN1N0YXIwckxWSWo1cnZmNzRtWktGNWlyNzE1WG1nejV0QV9HeUhleE40b1hmclE4ODlBclZDTGFSZEEiLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
    signature: "MEUCIQDBqeI274exaKWGQz37g7yo1--TVcZSCcYVftZ1AnEJkQIgNw-nlx-_U9rVfFfER8oX6BlYZTuPFyGaL_wCDY23s0E",
};

fn py_verify(v: &PyWebauthn, origins: &[String], require_uv: bool) -> Result<u32, WebAuthnError> {
    let key = cose_ec2(&b64(v.credential_public_key));
    let challenge = b64(v.challenge);
    verify_assertion(
        &AssertionCheck {
            public_key: &key,
            rp_id: "localhost",
            origins,
            challenge: &challenge,
            require_user_verification: require_uv,
        },
        &b64(v.authenticator_data),
        &b64(v.client_data_json),
        &b64(v.signature),
    )
    .map(|a| a.sign_count)
}

#[test]
fn py_webauthn_vectors_verify_with_their_sign_counts() {
    let localhost = ["http://localhost:5000".to_owned()];
    // The library's expected new_sign_count values: 78 and 1625263266 (0x60df8ca2).
    assert_eq!(
        py_verify(&PY_EC2, &localhost, false),
        Ok(78),
        "{}",
        PY_EC2.name
    );
    let two = [
        "https://foo.bar".to_owned(),
        "http://localhost:5000".to_owned(),
    ];
    assert_eq!(
        py_verify(&PY_MULTI_ORIGIN, &two, true),
        Ok(1_625_263_266),
        "{}",
        PY_MULTI_ORIGIN.name
    );
    assert_eq!(
        py_verify(&PY_UV_FALSE, &localhost, false),
        Ok(33),
        "{}",
        PY_UV_FALSE.name
    );
}

#[test]
fn refuses_py_webauthn_vector_without_uv_when_required() {
    let localhost = ["http://localhost:5000".to_owned()];
    assert_eq!(
        py_verify(&PY_UV_FALSE, &localhost, true),
        Err(WebAuthnError::UserNotVerified),
        "{}",
        PY_UV_FALSE.name
    );
}
