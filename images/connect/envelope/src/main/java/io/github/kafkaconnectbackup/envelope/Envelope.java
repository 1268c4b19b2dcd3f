package io.github.kafkaconnectbackup.envelope;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.transforms.Transformation;

/**
 * Turns each sink record into one JSON line, the record's new value (a String, schema STRING),
 * which FileStreamSink writes as it writes any value. Fields, always all of them, in this order:
 *
 * <pre>
 * {"timestamp":1767225600000,"timestampType":"CreateTime","partition":0,"offset":42,
 *  "key":"k","value":{"b64":"AP8="},"headers":[["h","v"],["h",null]]}
 * </pre>
 *
 * <ul>
 *   <li>timestamp: epoch milliseconds, or null (NoTimestampType); timestampType: CreateTime,
 *       LogAppendTime or NoTimestampType;
 *   <li>partition and offset: the record's in Kafka (as consumed, before any transform);
 *   <li>key, value and each header value are bytes, written as a JSON string when they are
 *       valid UTF-8 (the string's UTF-8 encoding is exactly those bytes), as an object
 *       {"b64": standard base64 with padding} when they are not, and as null when null (a
 *       tombstone's value, a null key, a header without a value);
 *   <li>headers: an array of [name, value] pairs in the record's order, repeated names kept.
 * </ul>
 *
 * The connector must read raw bytes: key.converter, value.converter and header.converter set to
 * org.apache.kafka.connect.converters.ByteArrayConverter; any other converter's data is refused
 * (a DataException), since the line would no longer hold the bytes that were in Kafka.
 *
 * <p>JSON is written with Jackson, which the Connect worker ships (connect-json): quotes,
 * backslashes and control characters are escaped, everything else (non-ASCII, characters outside
 * the BMP) is written as it is, and FileStreamSink encodes the line as UTF-8.
 */
public class Envelope<R extends ConnectRecord<R>> implements Transformation<R> {

    public static final String OVERVIEW_DOC =
            "Replaces each sink record's value with a JSON line holding its timestamp, timestamp "
                    + "type, partition, offset, key, value and headers (bytes: UTF-8 text as a "
                    + "string, other bytes as {\"b64\": ...}, null as null). Needs "
                    + "ByteArrayConverter as key, value and header converter.";

    public static final ConfigDef CONFIG_DEF = new ConfigDef();

    private static final JsonFactory JSON = new JsonFactory();

    @Override
    public R apply(R record) {
        if (!(record instanceof SinkRecord)) {
            throw new DataException(
                    "Envelope is a sink transform: it needs the Kafka partition and offset of a "
                            + "SinkRecord, got a " + record.getClass().getName());
        }
        String line = line((SinkRecord) record);
        return record.newRecord(
                record.topic(),
                record.kafkaPartition(),
                record.keySchema(),
                record.key(),
                Schema.STRING_SCHEMA,
                line,
                record.timestamp(),
                record.headers());
    }

    /** The envelope line of one record (without a line separator). */
    static String line(SinkRecord record) {
        StringWriter out = new StringWriter(256);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeFieldName("timestamp");
            if (record.timestamp() == null) {
                json.writeNull();
            } else {
                json.writeNumber(record.timestamp());
            }
            TimestampType type = record.timestampType();
            json.writeStringField(
                    "timestampType", (type == null ? TimestampType.NO_TIMESTAMP_TYPE : type).name);
            json.writeNumberField("partition", record.originalKafkaPartition());
            json.writeNumberField("offset", record.originalKafkaOffset());
            json.writeFieldName("key");
            writeBytes(json, record.key(), "the key");
            json.writeFieldName("value");
            writeBytes(json, record.value(), "the value");
            json.writeArrayFieldStart("headers");
            for (Header header : record.headers()) {
                json.writeStartArray();
                json.writeString(header.key());
                writeBytes(json, header.value(), "header " + header.key());
                json.writeEndArray();
            }
            json.writeEndArray();
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.toString();
    }

    private static void writeBytes(JsonGenerator json, Object data, String what)
            throws IOException {
        byte[] bytes;
        if (data == null) {
            json.writeNull();
            return;
        } else if (data instanceof byte[]) {
            bytes = (byte[]) data;
        } else if (data instanceof ByteBuffer) {
            ByteBuffer buffer = ((ByteBuffer) data).duplicate();
            bytes = new byte[buffer.remaining()];
            buffer.get(bytes);
        } else {
            throw new DataException(
                    "Envelope needs raw bytes but " + what + " is a " + data.getClass().getName()
                            + ": set key.converter, value.converter and header.converter to "
                            + "org.apache.kafka.connect.converters.ByteArrayConverter");
        }
        String text = utf8(bytes);
        if (text != null) {
            json.writeString(text);
        } else {
            json.writeStartObject();
            json.writeStringField("b64", Base64.getEncoder().encodeToString(bytes));
            json.writeEndObject();
        }
    }

    /**
     * The text of bytes that are valid UTF-8, else null. Strict: overlong forms, encoded
     * surrogates and code points above U+10FFFF are invalid, so the text encodes back to exactly
     * the same bytes.
     */
    static String utf8(byte[] bytes) {
        CharsetDecoder decoder =
                StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            return decoder.decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    @Override
    public ConfigDef config() {
        return CONFIG_DEF;
    }

    @Override
    public void configure(Map<String, ?> configs) {}

    @Override
    public void close() {}
}
