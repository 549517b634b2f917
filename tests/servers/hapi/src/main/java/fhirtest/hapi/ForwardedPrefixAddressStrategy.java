package fhirtest.hapi;

import ca.uhn.fhir.rest.server.ApacheProxyAddressStrategy;
import jakarta.servlet.ServletContext;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.web.util.UriComponentsBuilder;

/**
 * {@link ApacheProxyAddressStrategy} (X-Forwarded-Host / -Proto / -Port / -Prefix) with one change:
 * HAPI treats X-Forwarded-Prefix as the <em>complete</em> path of the server base, i.e. with
 * {@code X-Forwarded-Prefix: /basic} it would produce {@code https://host/basic/Patient/1}.
 * Here the prefix is prepended to the local servlet path instead (the usual reverse-proxy meaning,
 * same as Spring's ForwardedHeaderFilter), giving {@code https://host/basic/fhir/Patient/1}.
 * A prefix that already ends with the servlet path (e.g. {@code /basic/fhir}) is used unchanged.
 */
public class ForwardedPrefixAddressStrategy extends ApacheProxyAddressStrategy {

	public ForwardedPrefixAddressStrategy() {
		super(false); // plain http unless X-Forwarded-Proto says otherwise
	}

	@Override
	public String determineServerBase(ServletContext servletContext, HttpServletRequest request) {
		String base = super.determineServerBase(servletContext, request);
		String prefix = request.getHeader("X-Forwarded-Prefix");
		if (prefix == null) {
			return base;
		}
		// (an empty header means "no prefix"; HAPI itself would then drop /fhir from the base)
		String p = prefix.split(",")[0].trim();
		while (p.endsWith("/")) {
			p = p.substring(0, p.length() - 1);
		}
		if (!p.isEmpty() && !p.startsWith("/")) {
			p = "/" + p;
		}
		String local = request.getContextPath() + request.getServletPath(); // e.g. "/fhir"
		String path = p.endsWith(local) ? p : p + local;
		return UriComponentsBuilder.fromUriString(base).replacePath(path).build().toUriString();
	}
}
