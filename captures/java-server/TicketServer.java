// TicketServer: a minimal JSSE (SSLServerSocket) server for the stekwatch fixtures
// (captures/make-fixtures.sh).
//
// Default JSSE configuration apart from the key store; the stateless session tickets and the
// life of their keys are set with system properties on the java command line
// (jdk.tls.server.enableSessionTicketExtension, jdk.tls.server.statelessKeyTimeout).  One
// connection at a time: handshake, a short HTTP answer, then wait until the client closes, so
// TLS 1.3 clients read the NewSessionTicket.
//
// Usage: java TicketServer.java ADDRESS PORT KEYSTORE.p12 PASSWORD
import java.io.InputStream;
import java.io.OutputStream;
import java.io.FileInputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;

public class TicketServer {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: java TicketServer.java ADDRESS PORT KEYSTORE.p12 PASSWORD");
            System.exit(2);
        }
        char[] password = args[3].toCharArray();
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(args[2])) {
            ks.load(in, password);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        SSLServerSocket ss = (SSLServerSocket) ctx.getServerSocketFactory()
                .createServerSocket(Integer.parseInt(args[1]), 16, InetAddress.getByName(args[0]));
        System.out.println("TicketServer " + System.getProperty("java.vm.version") + " listening on "
                + ss.getLocalSocketAddress());
        System.out.flush();
        byte[] answer = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n".getBytes(StandardCharsets.US_ASCII);
        while (true) {
            try (SSLSocket s = (SSLSocket) ss.accept()) {
                s.setSoTimeout(20000);
                s.startHandshake();
                System.out.println(s.getRemoteSocketAddress() + ": " + s.getSession().getProtocol());
                System.out.flush();
                OutputStream out = s.getOutputStream();
                out.write(answer);
                out.flush();
                InputStream in = s.getInputStream();
                byte[] buf = new byte[4096];
                while (in.read(buf) >= 0) {
                    // discard until the client closes
                }
            } catch (Exception e) {
                System.out.println("connection: " + e);
                System.out.flush();
            }
        }
    }
}
