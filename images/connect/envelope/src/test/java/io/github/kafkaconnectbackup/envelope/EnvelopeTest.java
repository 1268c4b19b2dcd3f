package io.github.kafkaconnectbackup.envelope;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.header.ConnectHeaders;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.transforms.Transformation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EnvelopeTest {

    private static final Schema BYTES = Schema.OPTIONAL_BYTES_SCHEMA;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    private static SinkRecord record(
            byte[] key, byte[] value, ConnectHeaders headers, Long timestamp, TimestampType type) {
        return new SinkRecord("orders", 2, BYTES, key, BYTES, value, 42L, timestamp, type, headers);
    }

    private static String line(SinkRecord record) {
        return (String) new Envelope<SinkRecord>().apply(record).value();
    }

    @Test
    void writesEveryFieldInOrderWithRepeatedAndBinaryHeaders() {
        ConnectHeaders headers = new ConnectHeaders();
        headers.addBytes("trace", "a".getBytes(UTF_8));
        headers.addBytes("bin", bytes(0x00, 0xff));
        headers.addBytes("trace", "b".getBytes(UTF_8));
        headers.add("empty", null, BYTES);
        SinkRecord record = record(
                "k1".getBytes(UTF_8), bytes(0xde, 0xad, 0xbe, 0xef), headers,
                1767225600123L, TimestampType.CREATE_TIME);
        assertEquals(
                "{\"timestamp\":1767225600123,\"timestampType\":\"CreateTime\",\"partition\":2,"
                        + "\"offset\":42,\"key\":\"k1\",\"value\":{\"b64\":\"3q2+7w==\"},"
                        + "\"headers\":[[\"trace\",\"a\"],[\"bin\",{\"b64\":\"AP8=\"}],"
                        + "[\"trace\",\"b\"],[\"empty\",null]]}",
                line(record));
    }

    @Test
    void tombstoneAndNullKeyStayNull() {
        SinkRecord record = record(
                null, null, new ConnectHeaders(), 5L, TimestampType.LOG_APPEND_TIME);
        assertEquals(
                "{\"timestamp\":5,\"timestampType\":\"LogAppendTime\",\"partition\":2,"
                        + "\"offset\":42,\"key\":null,\"value\":null,\"headers\":[]}",
                line(record));
    }

    @Test
    void noTimestampIsNull() {
        SinkRecord record = record(
                bytes(), "v".getBytes(UTF_8), null, null, TimestampType.NO_TIMESTAMP_TYPE);
        assertEquals(
                "{\"timestamp\":null,\"timestampType\":\"NoTimestampType\",\"partition\":2,"
                        + "\"offset\":42,\"key\":\"\",\"value\":\"v\",\"headers\":[]}",
                line(record));
    }

    @Test
    void escapesQuotesBackslashesAndControlCharactersAndKeepsOtherTextAsItIs() {
        String text = "q\"b\\s/ nl\n cr\r tab\t nul\u0000 us\u001f del\u007f é \u2028 😀 𝄞";
        ConnectHeaders headers = new ConnectHeaders();
        headers.addBytes("na\"me\n😀", text.getBytes(UTF_8));
        String line = line(record(text.getBytes(UTF_8), null, headers, 1L,
                TimestampType.CREATE_TIME));
        String escaped = "q\\\"b\\\\s/ nl\\n cr\\r tab\\t nul\\u0000 us\\u001F del\u007f é "
                + "\u2028 😀 𝄞";
        assertEquals(
                "{\"timestamp\":1,\"timestampType\":\"CreateTime\",\"partition\":2,"
                        + "\"offset\":42,\"key\":\"" + escaped + "\",\"value\":null,"
                        + "\"headers\":[[\"na\\\"me\\n😀\",\"" + escaped + "\"]]}",
                line);
        assertTrue(line.chars().noneMatch(c -> c == '\n' || c == '\r'), "one line");
    }

    @Test
    void parsesBackToTheSameBytes() throws Exception {
        String text = "\"\\\u0000\u0001\b\f\n\r\t\u001f\u007f\u0080\u07ff\u0800\uffff😀\udbff\udfff";
        byte[] binary = bytes(0xc3, 0x28, 0x00, 0x80);
        ConnectHeaders headers = new ConnectHeaders();
        headers.addBytes("t", text.getBytes(UTF_8));
        headers.addBytes("t", binary);
        JsonNode node = MAPPER.readTree(
                line(record(text.getBytes(UTF_8), binary, headers, 7L, TimestampType.CREATE_TIME)));
        assertEquals(text, node.get("key").textValue());
        assertArrayEquals(text.getBytes(UTF_8), node.get("key").textValue().getBytes(UTF_8));
        assertArrayEquals(binary, Base64.getDecoder().decode(node.get("value").get("b64").textValue()));
        assertEquals(text, node.get("headers").get(0).get(1).textValue());
        assertArrayEquals(binary,
                Base64.getDecoder().decode(node.get("headers").get(1).get(1).get("b64").textValue()));
        assertEquals(List.of("timestamp", "timestampType", "partition", "offset", "key", "value",
                "headers"), iterable(node.fieldNames()));
    }

    private static List<String> iterable(java.util.Iterator<String> names) {
        return StreamSupport.stream(((Iterable<String>) () -> names).spliterator(), false)
                .collect(Collectors.toList());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "ff",          // never valid in UTF-8
        "80",          // a lone continuation byte
        "c080",        // overlong NUL
        "e08080",      // overlong three-byte form
        "eda080",      // an encoded surrogate (CESU-8)
        "edbfbf",      // an encoded low surrogate
        "f4908080",    // above U+10FFFF
        "e282",        // truncated three-byte sequence
        "61ff62",      // valid around an invalid byte
        "f0928d",      // truncated four-byte sequence at the end
    })
    void invalidUtf8IsBase64(String hex) throws Exception {
        byte[] data = java.util.HexFormat.of().parseHex(hex);
        assertNull(Envelope.utf8(data));
        JsonNode value = MAPPER.readTree(line(record(null, data, null, 1L,
                TimestampType.CREATE_TIME))).get("value");
        assertEquals(1, value.size());
        assertArrayEquals(data, Base64.getDecoder().decode(value.get("b64").textValue()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "00", "7f", "c280", "dfbf", "e0a080", "efbfbf", "f0908080",
        "f48fbfbf", "efbbbf61"})
    void validUtf8IsTextThatEncodesBackToTheSameBytes(String hex) {
        byte[] data = java.util.HexFormat.of().parseHex(hex);
        String text = Envelope.utf8(data);
        assertArrayEquals(data, text.getBytes(UTF_8));
    }

    @Test
    void newRecordHoldsTheLineAsAStringAndKeepsTheRest() {
        ConnectHeaders headers = new ConnectHeaders();
        headers.addBytes("h", bytes(1));
        byte[] key = "k".getBytes(UTF_8);
        SinkRecord record = record(key, "v".getBytes(UTF_8), headers, 9L, TimestampType.CREATE_TIME);
        SinkRecord out = new Envelope<SinkRecord>().apply(record);
        assertEquals(Schema.STRING_SCHEMA, out.valueSchema());
        assertEquals(Envelope.line(record), out.value());
        assertSame(key, out.key());
        assertEquals(BYTES, out.keySchema());
        assertEquals("orders", out.topic());
        assertEquals(2, out.kafkaPartition());
        assertEquals(42L, out.kafkaOffset());
        assertEquals(9L, out.timestamp());
        assertEquals(TimestampType.CREATE_TIME, out.timestampType());
        assertEquals(1, out.headers().size());
    }

    @Test
    void partitionAndOffsetAreTheConsumedOnes() {
        // A record an earlier transform re-routed: the envelope keeps where it was in Kafka.
        SinkRecord record = new SinkRecord("renamed", 0, BYTES, null, BYTES, bytes(), 1L, 3L,
                TimestampType.CREATE_TIME, null, "orders", 5, 77L);
        String line = line(record);
        assertTrue(line.contains("\"partition\":5,\"offset\":77,"), line);
    }

    @Test
    void byteBuffersAreBytesToo() throws Exception {
        ByteBuffer buffer = ByteBuffer.wrap(bytes(0x20, 0x61, 0x62, 0xff, 0x20), 1, 3);
        SinkRecord record = new SinkRecord("orders", 0, BYTES, buffer, BYTES, buffer.slice(1, 2),
                0L, 1L, TimestampType.CREATE_TIME);
        JsonNode node = MAPPER.readTree(line(record));
        assertArrayEquals(bytes(0x61, 0x62, 0xff),
                Base64.getDecoder().decode(node.get("key").get("b64").textValue()));
        assertEquals("ab", node.get("value").textValue());
        assertEquals(1, buffer.position(), "the record's buffer is not consumed");
    }

    @Test
    void refusesDataOfOtherConverters() {
        SinkRecord record = new SinkRecord("orders", 0, Schema.STRING_SCHEMA, "k",
                Schema.STRING_SCHEMA, "text", 0L);
        DataException error = assertThrows(DataException.class, () -> line(record));
        assertTrue(error.getMessage().contains("the key is a java.lang.String"), error.getMessage());
        assertTrue(error.getMessage().contains(
                "org.apache.kafka.connect.converters.ByteArrayConverter"), error.getMessage());

        ConnectHeaders headers = new ConnectHeaders();
        headers.addInt("count", 3);
        SinkRecord header = record(null, null, headers, 1L, TimestampType.CREATE_TIME);
        DataException headerError = assertThrows(DataException.class, () -> line(header));
        assertTrue(headerError.getMessage().contains("header count is a java.lang.Integer"),
                headerError.getMessage());
    }

    @Test
    void refusesSourceRecords() {
        SourceRecord record = new SourceRecord(null, null, "orders", 0, BYTES, bytes(1));
        DataException error = assertThrows(DataException.class,
                () -> new Envelope<SourceRecord>().apply(record));
        assertTrue(error.getMessage().contains("sink transform"), error.getMessage());
    }

    @Test
    void connectFindsItThroughTheServiceLoader() {
        @SuppressWarnings("rawtypes")
        List<String> found = ServiceLoader.load(Transformation.class).stream()
                .map(p -> p.type().getName()).collect(Collectors.toList());
        assertTrue(found.contains(Envelope.class.getName()), found.toString());
        Envelope<SinkRecord> envelope = new Envelope<>();
        envelope.configure(java.util.Map.of());
        assertTrue(envelope.config().names().isEmpty());
        envelope.close();
    }
}
