package fhirtest.hapi;

import ca.uhn.fhir.rest.server.RestfulServer;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * Entry point: boots the Spring/HAPI JPA context, then serves RestfulServer at
 * http://127.0.0.1:PORT/fhir via embedded Jetty.
 * Port: the only CLI argument (hapi/part.sh passes FHIR_HAPI_PORT from tests/servers/ports.env).
 */
public final class HapiTestServer {
	private static final Logger LOG = LoggerFactory.getLogger(HapiTestServer.class);

	private HapiTestServer() {}

	public static void main(String[] args) throws Exception {
		long t0 = System.nanoTime();
		if (args.length != 1) {
			System.err.println("usage: HapiTestServer PORT");
			System.exit(2);
		}
		int port = Integer.parseInt(args[0].trim());

		AnnotationConfigApplicationContext ctx = new AnnotationConfigApplicationContext(HapiServerConfig.class);
		RestfulServer restfulServer = ctx.getBean(RestfulServer.class);

		Server jetty = new Server();
		ServerConnector connector = new ServerConnector(jetty);
		connector.setHost("127.0.0.1");
		connector.setPort(port);
		jetty.addConnector(connector);

		ServletContextHandler handler = new ServletContextHandler();
		handler.setContextPath("/");
		ServletHolder holder = new ServletHolder("fhir", restfulServer);
		holder.setInitOrder(1);
		handler.addServlet(holder, "/fhir/*");
		jetty.setHandler(handler);
		jetty.setStopAtShutdown(false);

		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			try {
				jetty.stop();
			} catch (Exception e) {
				LOG.warn("Error stopping Jetty", e);
			}
			ctx.close();
		}, "hapi-shutdown"));

		jetty.start();
		LOG.info("HAPI FHIR R4 JPA server ready at http://127.0.0.1:{}/fhir (startup {} ms)",
				port, (System.nanoTime() - t0) / 1_000_000);
		jetty.join();
	}
}
