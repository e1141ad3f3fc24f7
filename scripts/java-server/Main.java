/*
 * scripts/java-server/Main.java: mongo-java-server (de.bwaldvogel, memory
 * backend) on HOST:PORT, for scripts/mongo-server (MSM_MONGODB=java-server).
 * scripts/deps fetches the library from Maven Central and compiles this
 * file into the cache; nothing of it is in the tree.
 *
 *   java -cp CLASSES:LIB/* Main HOST PORT
 *
 * Runs until SIGTERM or SIGINT, then closes its connections and exits 0.
 * Exits 1 if it cannot listen.
 */
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;

public final class Main {
    public static void main(String[] args) throws InterruptedException {
        if (args.length != 2) {
            System.err.println("usage: Main HOST PORT");
            System.exit(2);
        }
        final MongoServer server = new MongoServer(new MemoryBackend());
        try {
            server.bind(new InetSocketAddress(args[0],
                                              Integer.parseInt(args[1])));
        }
        catch (RuntimeException e) {
            System.err.println("cannot listen on " + args[0] + ":" + args[1]
                               + ": " + e);
            System.exit(1);
        }
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            stopped.countDown();
        }));
        System.out.println("mongo-java-server listening on "
                           + server.getLocalAddress());
        stopped.await();
    }
}
